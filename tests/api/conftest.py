"""Fixtures of the API tests that need a real API server: the CRD installed, and a namespace."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sloserve.api import crd, crd_files


@pytest.fixture(scope="session")
def modelservice_crd(kube_cluster: Any) -> str:
    """Installs the CRD generated from the models (not the committed file: the drift test ties
    the two) and waits until the API server serves it. Returns the CRD's name."""
    manifest = crd_files.render_yaml(crd.modelservice_crd())
    kube_cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=sloserve-api-tests",
        "-f",
        "-",
        input=manifest,
    )
    kube_cluster.wait_for_crd(crd.CRD_NAME)
    return crd.CRD_NAME


@pytest.fixture(scope="module")
def namespace(kube_cluster: Any, modelservice_crd: str) -> Iterator[str]:
    """A fresh namespace for one test module, deleted afterwards (without waiting)."""
    name = f"api-{uuid.uuid4().hex[:8]}"
    kube_cluster.kubectl("create", "namespace", name)
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
