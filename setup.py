"""Build script: the package, with the modules on the simulator's per-event path compiled.

The discrete-event simulator spends its time in the engine core, the scheduling core and the
event loop: a few thousand Python calls per simulated request. mypyc compiles those modules
from the same typed sources (`mypy --strict` clean) into C extensions, which roughly halves a
simulation's time (`bench/sim/sim_speed.py` measures both builds); every other module stays
Python. Results do not depend on the build: a test runs one simulation both ways and compares
every record.

Set SLOSERVE_PURE_PYTHON=1 to build without compiling (no C compiler needed). An editable install
(`make setup`) puts the compiled modules beside their sources, where they take precedence:
`make` rebuilds them when a source changes, and the test suite refuses to run on stale ones.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from setuptools import Extension, setup


def _build_info() -> ModuleType:
    """sloserve/build_info.py, read from its file (the package is not installed yet)."""
    path = Path(__file__).parent / "src" / "sloserve" / "build_info.py"
    spec = importlib.util.spec_from_file_location("sloserve_build_info", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot read {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Commands that only write metadata: pip runs them before a build, and compiling (as long as the
# build itself) would be thrown away.
METADATA_COMMANDS = {"egg_info", "dist_info"}


def compiled_extensions() -> list[Extension]:
    """The C extensions of `build_info.COMPILED_MODULES`, or none for a pure-Python build."""
    if os.environ.get("SLOSERVE_PURE_PYTHON", "") not in ("", "0"):
        return []
    if METADATA_COMMANDS.intersection(sys.argv[1:]):
        return []
    from mypyc.build import mypycify

    build_info = _build_info()
    sources = [build_info.source_path(module) for module in build_info.COMPILED_MODULES]
    build_info.record_sources(Path(__file__).parent / "src" / "sloserve")
    # mypyc type-checks with the project's mypy configuration (pyproject.toml) first
    return mypycify(sources, opt_level="3")


setup(ext_modules=compiled_extensions())
