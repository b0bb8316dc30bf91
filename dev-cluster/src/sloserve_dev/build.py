"""Building the local cluster's binaries with the script shipped in this package."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.resources
import pathlib
import subprocess
from collections.abc import Iterator

from sloserve_dev import paths

BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "helm",
)


class BuildError(RuntimeError):
    """The build script failed; its output says why."""


def missing_binaries(bin_dir: pathlib.Path) -> list[str]:
    return [name for name in BINARIES if not (bin_dir / name).is_file()]


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    # Two test sessions, or a test session and `sloserve dev build`, may ask at once; the second
    # waits and then finds the binaries there.
    root = paths.cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(*, force: bool = False) -> pathlib.Path:
    """Runs the build script (output to this process's stdout and stderr) unless every binary is
    in the cache already, or always with `force` (it still keeps binaries present). Returns the
    binaries' directory. Raises BuildError when the script fails or leaves a binary missing."""
    target = paths.bin_dir()
    with _build_lock():
        if not force and not missing_binaries(target):
            return target
        script = importlib.resources.files("sloserve_dev").joinpath("build-binaries.sh")
        with importlib.resources.as_file(script) as script_path:
            completed = subprocess.run(["bash", str(script_path)], check=False)
        if completed.returncode != 0:
            raise BuildError(
                f"building the local cluster's binaries failed (exit {completed.returncode}); "
                "see the output above"
            )
        missing = missing_binaries(target)
        if missing:
            raise BuildError(f"the build left {', '.join(missing)} missing from {target}")
    return target
