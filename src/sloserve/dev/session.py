"""A local control plane for the span of a `with` block (a test session, a benchmark)."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator

from sloserve.dev import build, cluster, handle, layout, state


@contextlib.contextmanager
def local_control_plane(state_dir: pathlib.Path) -> Iterator[handle.ClusterHandle]:
    """Builds the binaries if needed, starts etcd, kube-apiserver, kube-controller-manager and
    kube-scheduler on loopback with their state (certificates, kubeconfig, logs) in
    `state_dir`, yields a handle, and stops everything on exit. There are no nodes: objects are
    stored, validated, garbage-collected and scheduled onto nothing, and no pod runs. The
    processes are tied to this one, so they end even if it is killed."""
    bin_dir = build.build()
    paths = layout.ClusterLayout(state_dir)
    with cluster.locked(paths):
        record = cluster.start(paths=paths, bin_dir=bin_dir, tie_to_parent=True)
    try:
        yield handle.ClusterHandle(
            kubeconfig=record.kubeconfig, bin_dir=bin_dir, server=record.server
        )
    finally:
        with cluster.locked(paths):
            current = state.load(paths)
            cluster.stop(current if current is not None else record)
