"""Fixtures shared by the whole test suite.

`kube_cluster` is one real Kubernetes cluster per test session: the local control plane (built
on first use, then cached) with the local kubelet running two simulated GPU nodes (8 x
NVIDIA-H100-80GB-HBM3 each), or the cluster of `SLOSERVE_TEST_KUBECONFIG` when that is set.
Tests that use it are marked `cluster` automatically, so `pytest -m "not cluster"` skips them.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import pytest

from sloserve import build_info
from sloserve.dev import build, handle, session
from sloserve.dev.kubelet import config

# Real vLLM on the CPU for the tests marked `vllm` (tests/vllm_fixtures/plugin.py).
pytest_plugins = ("vllm_fixtures.plugin",)

# Crashed containers restart after 1 s, 2 s, 4 s... (a real kubelet waits 10 s, 20 s...), so
# that tests of restarts need not wait; everything else is as on a real node.
TEST_KUBELET = config.KubeletOptions(nodes=2, backoff_initial_s=1.0, backoff_max_s=10.0)


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


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[handle.ClusterHandle]:
    """A running cluster: `.kubeconfig`, `.server`, `.bin_dir` (kubectl and helm),
    `.kubectl(*args, input=None, check=True)`, `.helm(...)` and `.nodes` (the local GPU nodes'
    names). Tests share it: use your own namespaces."""
    external = os.environ.get("SLOSERVE_TEST_KUBECONFIG")
    if external:
        yield handle.ClusterHandle.from_kubeconfig(pathlib.Path(external), bin_dir=build.build())
        return
    state_dir = tmp_path_factory.mktemp("kube-cluster")
    with session.local_cluster(state_dir, kubelet=TEST_KUBELET) as cluster:
        yield cluster
