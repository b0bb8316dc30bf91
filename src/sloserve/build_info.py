"""Which modules a build compiles (see setup.py), and which of them this installation runs
compiled.

The modules on the simulator's per-event path are compiled with mypyc from their typed sources
unless the package was built with SLOSERVE_PURE_PYTHON=1. Behaviour is the same either way; only
speed differs, so benchmarks record which modules ran compiled. This module imports nothing of
sloserve (setup.py reads it before the package is installed).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import shutil
from pathlib import Path

COMPILED_MODULES = (
    "sloserve.engine.core",
    "sloserve.engine.decode_pool",
    "sloserve.engine.events",
    "sloserve.engine.interpolation",
    "sloserve.engine.kv_cache",
    "sloserve.engine.requests",
    "sloserve.engine.scheduler",
    "sloserve.engine.timing",
    "sloserve.engine.waiting_queue",
    "sloserve.scheduling.engine_state",
    "sloserve.scheduling.latency_model",
    "sloserve.scheduling.prefill_meter",
    "sloserve.scheduling.request_queue",
    "sloserve.scheduling.routing.contract",
    "sloserve.scheduling.routing.feasibility",
    "sloserve.scheduling.routing.filters.prefill_meter",
    "sloserve.scheduling.routing.filters.room",
    "sloserve.scheduling.routing.filters.tpot_guard",
    "sloserve.scheduling.routing.filters.ttft_guard",
    "sloserve.scheduling.routing.pickers",
    "sloserve.scheduling.routing.profile",
    "sloserve.scheduling.routing.scorers.load",
    "sloserve.scheduling.routing.scorers.predicted_completion",
    "sloserve.scheduling.routing.scorers.session_affinity",
    "sloserve.scheduling.scheduler",
    "sloserve.scheduling.tpot_guard",
    "sloserve.scheduling.ttft_guard",
    "sloserve.sim.engines",
    "sloserve.sim.event_loop",
)


# written by a compiling build beside this module: {module: SHA-256 of the source compiled}
SOURCE_DIGESTS = "compiled_sources.json"


def source_path(module: str) -> str:
    """The source file of `module`, relative to the repository root (as setup.py names it)."""
    return "src/" + module.replace(".", "/") + ".py"


def compiled_modules() -> list[str]:
    """The modules of COMPILED_MODULES that this installation loads as C extensions."""
    return [module for module in COMPILED_MODULES if _extension_path(module) is not None]


def stale_compiled_modules() -> list[str]:
    """Compiled modules whose source beside them is not the source they were compiled from (an
    editable install whose sources changed since it was built: rebuild with `make setup`)."""
    package = Path(__file__).parent
    try:
        built_from = json.loads((package / SOURCE_DIGESTS).read_text())
    except (OSError, ValueError):
        built_from = {}
    stale = []
    for module in COMPILED_MODULES:
        extension = _extension_path(module)
        if extension is None:
            continue
        source = extension.parent / (module.rpartition(".")[2] + ".py")
        if source.exists() and built_from.get(module) != _digest(source):
            stale.append(module)
    return stale


def record_sources(package: Path) -> None:
    """Write the digests of the compiled modules' sources beside them, as a build compiles them
    (setup.py), for `stale_compiled_modules`."""
    digests = {
        module: _digest(package.parent / source_path(module).removeprefix("src/"))
        for module in COMPILED_MODULES
    }
    (package / SOURCE_DIGESTS).write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n")


def _digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def pure_python_copy(destination: Path) -> Path:
    """Copy this installation's package, less its compiled modules, into `destination` and
    return `destination`: a Python started with it first on its path (PYTHONPATH) runs every
    module from source. For comparing the two builds (a test, the speed benchmark)."""
    package = Path(__file__).parent
    shutil.copytree(
        package,
        destination / package.name,
        ignore=shutil.ignore_patterns(
            *(f"*{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES), "__pycache__"
        ),
    )
    return destination


def _extension_path(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    origin = None if spec is None else spec.origin
    if origin is None or not origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        return None
    return Path(origin)
