"""Helpers for the local cluster's tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from sloserve_dev import handle


@pytest.fixture
def local_only() -> None:
    """Skips a test about the local control plane itself when the suite runs elsewhere."""
    if os.environ.get("SLOSERVE_TEST_KUBECONFIG"):
        pytest.skip("checks the local control plane; SLOSERVE_TEST_KUBECONFIG names another")


@pytest.fixture
def namespace(kube_cluster: handle.ClusterHandle) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"dev-{uuid.uuid4().hex[:8]}"
    kube_cluster.kubectl("create", "namespace", name)
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
