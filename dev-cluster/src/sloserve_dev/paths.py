"""Where the local cluster keeps its binaries (a cache shared by every checkout) and its state."""

from __future__ import annotations

import os
import pathlib

DEFAULT_KUBE_VERSION = "v1.34.4"


def kube_version() -> str:
    """The Kubernetes release to build and run: `SLOSERVE_KUBE_VERSION`, default v1.34.4."""
    return os.environ.get("SLOSERVE_KUBE_VERSION", DEFAULT_KUBE_VERSION)


def cache_root() -> pathlib.Path:
    """`SLOSERVE_CACHE_DIR`, else `$XDG_CACHE_HOME/sloserve`, else `~/.cache/sloserve`."""
    explicit = os.environ.get("SLOSERVE_CACHE_DIR")
    if explicit:
        return pathlib.Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
    return base / "sloserve"


def bin_dir() -> pathlib.Path:
    """The directory holding etcd, the Kubernetes binaries, kubectl and helm of `kube_version()`;
    the build script writes to exactly this place."""
    return cache_root() / f"kube-{kube_version()}" / "bin"


def default_state_dir() -> pathlib.Path:
    """State of the cluster that `sloserve dev up` runs in the background: `SLOSERVE_STATE_DIR`,
    else `$XDG_STATE_HOME/sloserve/dev`, else `~/.local/state/sloserve/dev`."""
    explicit = os.environ.get("SLOSERVE_STATE_DIR")
    if explicit:
        return pathlib.Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".local" / "state"
    return base / "sloserve" / "dev"
