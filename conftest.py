"""Fixtures shared by the test suite (tests/) and the end-to-end suite (e2e/).

`kind_cluster` is the session's local kind cluster: two nodes with simulated GPUs and real
kubelets, built offline (see docs/local-cluster.md), made on first use and deleted with
everything it started at the end of the session. The tests that need running pods and the e2e
suite share it, so a session makes at most one; its name is the session's own
(`sloserve-test-<4 hex digits>`), so that sessions run side by side, each on its cluster, and
never on a cluster someone made with `sloserve dev up` (the demo's, say)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sloserve_dev import handle
from sloserve_dev.kind import cluster, lifecycle


@pytest.fixture(scope="session")
def kind_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[handle.ClusterHandle]:
    options = cluster.KindOptions(name=lifecycle.session_cluster_name())
    with lifecycle.kind_cluster(tmp_path_factory.mktemp("kind"), options) as running:
        yield running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that make a kind cluster of their own run first, before the shared one exists:
    one cluster at a time on the machine."""
    first = [item for item in items if item.get_closest_marker("kind") is not None]
    items[:] = first + [item for item in items if item.get_closest_marker("kind") is None]
