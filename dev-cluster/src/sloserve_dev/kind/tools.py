"""The programs a local kind cluster needs beside the control plane's binaries (built once from
the Go module proxy by build-tools.sh): kubeadm, kubelet and kube-proxy, kind, CoreDNS, and
sloserve's runc wrapper and pause."""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
import pathlib
import subprocess

from sloserve_dev import build, paths

DEFAULT_KIND_VERSION = "v0.33.0"
DEFAULT_COREDNS_VERSION = "v1.12.1"


class ToolsError(RuntimeError):
    """A tool could not be built; the output above says why."""


def kind_version() -> str:
    return os.environ.get("SLOSERVE_KIND_VERSION", DEFAULT_KIND_VERSION)


def coredns_version() -> str:
    return os.environ.get("SLOSERVE_COREDNS_VERSION", DEFAULT_COREDNS_VERSION)


@dataclasses.dataclass(frozen=True)
class Tools:
    kind: pathlib.Path
    kind_module: pathlib.Path
    runc_wrapper: pathlib.Path
    kube_bin: pathlib.Path


def build_tools() -> Tools:
    """Builds what is missing (output on this process's stdout and stderr); returns where the
    tools are. The control plane's binaries are built first, as build-tools.sh reuses their
    resolved Kubernetes module."""
    kube_bin = build.build()
    script = importlib.resources.files("sloserve_dev.kind").joinpath("build-tools.sh")
    with importlib.resources.as_file(script) as script_path:
        completed = subprocess.run(
            ["bash", str(script_path)], stdout=subprocess.PIPE, text=True, check=False
        )
    if completed.returncode != 0:
        raise ToolsError(f"building the kind tools failed (exit {completed.returncode})")
    found = dict(
        line.split("=", 1)
        for line in completed.stdout.splitlines()
        if line.startswith("kind_module=")
    )
    root = paths.cache_root()
    return Tools(
        kind=root / f"kind-{kind_version()}" / "bin" / "kind",
        kind_module=pathlib.Path(found["kind_module"]),
        runc_wrapper=root / "kind-tools" / "bin" / "runc-wrapper",
        kube_bin=kube_bin,
    )


def debian_mirror() -> str:
    """`SLOSERVE_DEBIAN_MIRROR`, else the first Debian archive this machine's apt uses."""
    explicit = os.environ.get("SLOSERVE_DEBIAN_MIRROR")
    if explicit:
        return explicit
    sources = sorted(pathlib.Path("/etc/apt/sources.list.d").glob("*.sources"))
    for source in sources:
        for line in source.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    listed = pathlib.Path("/etc/apt/sources.list")
    if listed.is_file():
        for line in listed.read_text().splitlines():
            if line.startswith("deb ") and "security" not in line:
                return line.split()[1]
    raise ToolsError("no Debian mirror in this machine's apt sources; set SLOSERVE_DEBIAN_MIRROR")
