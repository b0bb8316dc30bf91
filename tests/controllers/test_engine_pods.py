"""The status and Events of a ModelService whose engine pods run (or fail to) on real kubelets:
the session's kind cluster (two nodes with simulated H100s), or SLOSERVE_TEST_KUBECONFIG's."""

from __future__ import annotations

from typing import Any

import pytest
from operator_harness import ABSENT_GPU, REPO, Kube, engine_with, eventually, sample, unique

from sloserve_dev import handle

pytestmark = pytest.mark.usefixtures("operator_process")

H100 = "NVIDIA-H100-80GB-HBM3"


@pytest.fixture(scope="module")
def kube_cluster(pod_cluster: handle.ClusterHandle) -> handle.ClusterHandle:
    """This module's cluster: one whose nodes run pods (the module's operator and namespace
    follow it)."""
    return pod_cluster


@pytest.fixture(scope="module")
def modelservice_crd(kube_cluster: handle.ClusterHandle) -> None:
    kube_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kube_cluster.wait_for_crd("modelservices.sloserve.io")


def _has_condition(kube: Kube, name: str, kind: str, status: str, reason: str) -> bool:
    condition = kube.condition(name, kind)
    return condition is not None and (condition["status"], condition["reason"]) == (status, reason)


def _reasons(events: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(event["type"], event["reason"]) for event in events}


def test_gpu_product_no_node_has_is_not_ready_saying_so(kube: Kube) -> None:
    name = unique("nogpu")
    kube.apply(engine_with(sample(name, replicas=1), gpus=1, gpuProduct=ABSENT_GPU))
    eventually(
        lambda: _has_condition(kube, name, "Ready", "False", "NoNodeWithGPUProduct"),
        what="Ready=False with reason NoNodeWithGPUProduct",
    )
    ready = kube.condition(name, "Ready")
    assert ready is not None
    assert f"nvidia.com/gpu.product={ABSENT_GPU}" in ready["message"]
    assert H100 in ready["message"]
    assert _has_condition(kube, name, "Degraded", "True", "NoNodeWithGPUProduct")
    eventually(
        lambda: ("Warning", "NoNodeWithGPUProduct") in _reasons(kube.events(name)),
        what="a Warning Event naming the missing GPU product",
    )


def test_unpullable_image_is_reported(kube: Kube) -> None:
    name = unique("pull")
    kube.apply(engine_with(sample(name, replicas=1), image="registry.invalid/nothing:1"))
    eventually(
        lambda: _has_condition(kube, name, "Degraded", "True", "ImagePullFailing"),
        what="Degraded=True with reason ImagePullFailing",
        timeout_s=90,
    )
    ready = kube.condition(name, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "ImagePullFailing")


def test_crash_looping_engine_is_reported(kube: Kube) -> None:
    name = unique("crash")
    # The simulator refuses zero sequences at start, so the engine exits and is restarted.
    kube.apply(
        engine_with(sample(name, replicas=1), args=["--max-num-seqs=0"], profile="synthetic")
    )
    eventually(
        lambda: _has_condition(kube, name, "Degraded", "True", "CrashLooping"),
        what="Degraded=True with reason CrashLooping",
        timeout_s=120,
    )
    degraded = kube.condition(name, "Degraded")
    assert degraded is not None
    assert "restarts" in degraded["message"]


def test_simulated_engines_become_ready_where_the_gpus_are(kube: Kube) -> None:
    name = unique("ready")
    # The synthetic profile needs no measured profile data, only the simulator.
    kube.apply(engine_with(sample(name, replicas=1), gpus=1, gpuProduct=H100, profile="synthetic"))
    eventually(
        lambda: _has_condition(kube, name, "Ready", "True", "EnginesReady"),
        what="Ready=True once the simulated engine answers /health",
        timeout_s=120,
    )
    status = kube.modelservice(name)["status"]
    assert (status["replicas"], status["readyReplicas"]) == (1, 1)
    (placed,) = status["placement"]
    node = kube.core.read_node(placed["node"])
    assert node.metadata.labels.get("nvidia.com/gpu.product") == H100
    eventually(
        lambda: _has_condition(kube, name, "Progressing", "False", "RolloutComplete"),
        what="Progressing=False once the rollout is complete",
    )
    assert ("Normal", "Ready") in _reasons(kube.events(name))
