"""A local cluster for the span of a `with` block (a test session, a benchmark)."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator

from sloserve.dev import build, cluster, handle, kubelet_process, layout, state
from sloserve.dev.kubelet import config


@contextlib.contextmanager
def local_cluster(
    state_dir: pathlib.Path, *, kubelet: config.KubeletOptions | None = None
) -> Iterator[handle.ClusterHandle]:
    """Builds the binaries if needed, starts a control plane with its state (certificates,
    kubeconfig, logs) in `state_dir` and, given `kubelet` options, the local kubelet with its
    GPU nodes; yields a handle, and stops everything on exit. The processes are tied to this
    one, so they end even if it is killed."""
    bin_dir = build.build()
    paths = layout.ClusterLayout(state_dir)
    with cluster.locked(paths):
        record = cluster.start(paths=paths, bin_dir=bin_dir, tie_to_parent=True)
        if kubelet is not None:
            try:
                record = kubelet_process.start_kubelet(record, options=kubelet, tie_to_parent=True)
            except BaseException:
                cluster.stop(state.load(paths) or record)
                raise
    try:
        yield handle.ClusterHandle(
            kubeconfig=record.kubeconfig, bin_dir=bin_dir, server=record.server, nodes=record.nodes
        )
    finally:
        with cluster.locked(paths):
            current = state.load(paths)
            cluster.stop(current if current is not None else record)
