"""With InferencePools turned on, the operator makes one per ModelService once the cluster serves
the inference extension's API (noticed when its CRD arrives, without a restart); until then the
ModelService reconciles as usual. The pool is owned by the ModelService and goes with it."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from operator_harness import Kube, OperatorProcess, eventually, sample, start_operator, unique

from sloserve.builders import labels
from sloserve_dev import handle

POOL_CRD = (
    pathlib.Path(__file__).resolve().parents[1]
    / "epp"
    / "crds"
    / "inference.networking.k8s.io_inferencepools.yaml"
)
CRD_NAME = "crd/inferencepools.inference.networking.k8s.io"


@pytest.fixture(scope="module")
def pool_operator(
    kube_cluster: handle.ClusterHandle,
    module_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """An operator making InferencePools, started while the cluster has no InferencePool CRD."""
    kube_cluster.kubectl("delete", CRD_NAME, "--ignore-not-found", "--wait=true")
    running = start_operator(
        kube_cluster,
        namespaces=[module_namespace],
        lease_name=unique("lease"),
        log_path=tmp_path_factory.mktemp("operator") / "operator.log",
        env={
            "SLOSERVE_OPERATOR__INFERENCE_POOLS__ENABLED": "true",
            "SLOSERVE_OPERATOR__INFERENCE_POOLS__FAILURE_MODE": "FailOpen",
            "SLOSERVE_OPERATOR__INFERENCE_POOLS__API_RECHECK_INTERVAL_S": "1",
        },
    )
    yield running
    running.stop()


def _pool(kube: Kube, name: str) -> dict[str, Any] | None:
    try:
        return kube.get_json("inferencepools.inference.networking.k8s.io", name)
    except Exception:
        return None


def test_pools_appear_once_the_crd_does_and_go_with_their_modelservice(
    kube: Kube, kube_cluster: handle.ClusterHandle, pool_operator: OperatorProcess
) -> None:
    name = unique("pooled")
    kube.apply(sample(name, replicas=1))
    eventually(
        lambda: kube.reconciled(name),
        what="the ModelService to reconcile without the InferencePool API",
        diagnose=pool_operator.log_tail,
    )

    kube_cluster.kubectl("apply", "-f", str(POOL_CRD))
    eventually(
        lambda: _pool(kube, name) is not None,
        what="the operator to notice the CRD and create the pool",
        diagnose=pool_operator.log_tail,
    )
    pool = _pool(kube, name)
    assert pool is not None
    (owner,) = pool["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("ModelService", name)
    assert pool["metadata"]["labels"][labels.MODEL_SERVICE] == name
    assert pool["spec"]["selector"]["matchLabels"] == labels.selector_labels(name)
    assert pool["spec"]["targetPorts"] == [{"number": 8000}]
    assert pool["spec"]["endpointPickerRef"] == {
        "group": "",
        "kind": "Service",
        "name": "sloserve-epp",
        "port": {"number": 9002},
        "failureMode": "FailOpen",
    }

    kube.cluster.kubectl("delete", "modelservice", name, "-n", kube.namespace)
    eventually(lambda: _pool(kube, name) is None, what="the pool to be garbage-collected")
