"""Fixtures shared by the whole test suite.

`kube_cluster` is one real Kubernetes control plane per test session: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler on loopback (built on first use, then cached), with no
nodes, or the cluster of `SLOSERVE_TEST_KUBECONFIG` when that is set. Tests that use it are
marked `cluster` automatically, so `pytest -m "not cluster"` skips them. Tests that need pods to
run carry the `pods` marker: they run only on a cluster with nodes.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import pytest

from sloserve import build_info
from sloserve.dev import build, handle, session

EXTERNAL_KUBECONFIG = "SLOSERVE_TEST_KUBECONFIG"


def pytest_configure(config: pytest.Config) -> None:
    # An editable install runs its compiled modules in place of their sources: tests of an
    # edited source must not silently run the old build.
    stale = build_info.stale_compiled_modules()
    if stale:
        raise pytest.UsageError(
            f"compiled modules were built from other sources than theirs: {', '.join(stale)}; "
            "rebuild them with `make setup` (or delete src/**/*.so to run them as pure Python)"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "kube_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("pods") is not None and not os.environ.get(EXTERNAL_KUBECONFIG):
        pytest.skip(
            "needs nodes that run pods, which the local control plane has none of: set "
            f"{EXTERNAL_KUBECONFIG} to a cluster with GPU-labelled nodes"
        )


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[handle.ClusterHandle]:
    """A running control plane: `.kubeconfig`, `.server`, `.bin_dir` (kubectl and helm),
    `.kubectl(*args, input=None, check=True)` and `.helm(...)`. Tests share it: use your own
    namespaces."""
    external = os.environ.get(EXTERNAL_KUBECONFIG)
    if external:
        yield handle.ClusterHandle.from_kubeconfig(pathlib.Path(external), bin_dir=build.build())
        return
    state_dir = tmp_path_factory.mktemp("kube-cluster")
    with session.local_control_plane(state_dir) as cluster:
        yield cluster
