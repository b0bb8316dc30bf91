"""Where the suite runs: the cluster of `SLOSERVE_E2E_KUBECONFIG` (any cluster that can pull or
already holds the sloserve image, with GPU-labelled nodes), else a local kind cluster built
offline for the session: two nodes with simulated GPUs, the sloserve image loaded, and the kind
network fenced so that nothing leaves the machine (see sloserve_dev.kind)."""

from __future__ import annotations

import dataclasses
import os
import pathlib

import pytest

from sloserve_dev import build, handle
from sloserve_dev.kind import cluster, egress

KUBECONFIG_ENV = "SLOSERVE_E2E_KUBECONFIG"
#: Why the session's kind cluster was made without the vLLM engine when a test wanted it (the
#: virtualenv's build failed, say); the repository's conftest.py sets it.
VLLM_SETUP_FAILURE = pytest.StashKey[str]()
#: A directory holding the kubectl and helm to use with an external cluster; without it, those
#: the local set-up builds.
BIN_DIR_ENV = "SLOSERVE_E2E_BIN_DIR"


@dataclasses.dataclass(frozen=True)
class Provider:
    """A cluster to run the suite on, and what the chart and the tests need to know of it.

    Attributes:
        name: `kind` or `external`.
        cluster: kubectl and helm against it.
        chart_values: `--set` values the chart needs there.
        pods_reachable: whether this process reaches pod IPs directly; never for kind (the
            suite port-forwards on loopback).
        fence: the kind network's egress fence (None for an external cluster).
    """

    name: str
    cluster: handle.ClusterHandle
    chart_values: tuple[str, ...]
    pods_reachable: bool
    fence: egress.Fence | None = None


def external() -> Provider | None:
    """The cluster `SLOSERVE_E2E_KUBECONFIG` names, if it names one."""
    kubeconfig = os.environ.get(KUBECONFIG_ENV)
    if not kubeconfig:
        return None
    tools = os.environ.get(BIN_DIR_ENV)
    bin_dir = pathlib.Path(tools) if tools else build.build()
    running = handle.ClusterHandle.from_kubeconfig(pathlib.Path(kubeconfig), bin_dir=bin_dir)
    return Provider(name="external", cluster=running, chart_values=(), pods_reachable=False)


def kind(running: handle.ClusterHandle) -> Provider:
    """The session's local kind cluster (the `kind_cluster` fixture)."""
    return Provider(
        name="kind", cluster=running, chart_values=(), pods_reachable=False, fence=cluster.FENCE
    )
