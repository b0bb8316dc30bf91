"""Where the suite runs: the cluster of `SLOSERVE_E2E_KUBECONFIG` (any cluster that can pull or
already holds the sloserve image, with GPU-labelled nodes), else a local kind cluster built
offline for the session: two nodes with simulated GPUs, the sloserve image loaded, and the kind
network fenced so that nothing leaves the machine (see sloserve_dev.kind)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
from collections.abc import Iterator

from sloserve_dev import build, handle
from sloserve_dev.kind import cluster, egress, lifecycle

KUBECONFIG_ENV = "SLOSERVE_E2E_KUBECONFIG"
#: A directory holding the kubectl and helm to use with an external cluster; without it, those
#: the local set-up builds.
BIN_DIR_ENV = "SLOSERVE_E2E_BIN_DIR"
KIND_CLUSTER_NAME = "sloserve-e2e"


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


@contextlib.contextmanager
def provide(state_dir: pathlib.Path) -> Iterator[Provider]:
    """The external cluster when `SLOSERVE_E2E_KUBECONFIG` names one, else a kind cluster kept
    in `state_dir` for the span of the `with` block."""
    external = os.environ.get(KUBECONFIG_ENV)
    if external:
        tools = os.environ.get(BIN_DIR_ENV)
        bin_dir = pathlib.Path(tools) if tools else build.build()
        running = handle.ClusterHandle.from_kubeconfig(pathlib.Path(external), bin_dir=bin_dir)
        yield Provider(name="external", cluster=running, chart_values=(), pods_reachable=False)
        return
    options = cluster.KindOptions(name=KIND_CLUSTER_NAME)
    with lifecycle.kind_cluster(state_dir, options) as running:
        yield Provider(
            name="kind",
            cluster=running,
            chart_values=(),
            pods_reachable=False,
            fence=cluster.FENCE,
        )
