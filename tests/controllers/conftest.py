"""Fixtures of the controller tests: the CRD installed, a namespace per module, and one operator
process serving it."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from operator_harness import REPO, Kube, OperatorProcess, start_operator, unique

from sloserve_dev import handle


@pytest.fixture(scope="session")
def modelservice_crd(kube_cluster: handle.ClusterHandle) -> None:
    """The ModelService CRD, installed and established."""
    kube_cluster.kubectl("apply", "-f", str(REPO / "crds"))
    kube_cluster.wait_for_crd("modelservices.sloserve.io")


@pytest.fixture(scope="module")
def module_namespace(kube_cluster: handle.ClusterHandle, modelservice_crd: None) -> Iterator[str]:
    """A fresh namespace for the module's tests, deleted (without waiting) afterwards."""
    name = unique("op")
    kube_cluster.kubectl("create", "namespace", name)
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def operator_process(
    kube_cluster: handle.ClusterHandle,
    module_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator, serving the module's namespace for all of its tests."""
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    running = start_operator(
        kube_cluster, namespaces=[module_namespace], lease_name=unique("lease"), log_path=log_path
    )
    yield running
    running.stop()


@pytest.fixture
def kube(kube_cluster: handle.ClusterHandle, module_namespace: str) -> Kube:
    return Kube(kube_cluster, module_namespace)


@pytest.fixture
def operator_log(operator_process: OperatorProcess) -> pathlib.Path:
    return operator_process.log_path
