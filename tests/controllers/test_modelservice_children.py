"""A ModelService becomes a Deployment, a Service and a PodDisruptionBudget it owns; edits roll
through, `kubectl scale` works, and deleting it removes everything."""

from __future__ import annotations

from typing import Any

import pytest
from operator_harness import Kube, OperatorProcess, engine_with, eventually, sample, unique

pytestmark = pytest.mark.usefixtures("operator_process")

SELECTOR = "sloserve.io/modelservice={name}"


def _deployment(kube: Kube, name: str) -> dict[str, Any]:
    found = kube.get_json("deployment", name)
    assert found is not None, f"no Deployment {name}"
    return found


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def _wait_reconciled(kube: Kube, name: str) -> None:
    eventually(lambda: kube.reconciled(name), what=f"ModelService {name} to be reconciled")


def test_sample_produces_owned_deployment_service_and_budget(kube: Kube) -> None:
    name = unique("sample")
    kube.apply(sample(name))
    _wait_reconciled(kube, name)
    owner_uid = kube.modelservice(name)["metadata"]["uid"]

    deployment = _deployment(kube, name)
    service = kube.get_json("service", name)
    budget = kube.get_json("poddisruptionbudget", name)
    assert service is not None
    assert budget is not None
    for child in (deployment, service, budget):
        (reference,) = child["metadata"]["ownerReferences"]
        assert (reference["kind"], reference["uid"], reference["controller"]) == (
            "ModelService",
            owner_uid,
            True,
        )
    assert deployment["spec"]["replicas"] == 2
    container = _container(deployment)
    assert container["image"] == "ghcr.io/sloserve/sloserve:0.1.0"
    assert container["command"] == ["sloserve", "engine-sim"]
    assert "--served-model-name=meta-llama/Llama-3.1-8B-Instruct" in container["args"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "256Mi"}
    assert service["spec"]["ports"][0]["port"] == 8000
    assert service["metadata"]["annotations"]["sloserve.io/model"] == (
        "meta-llama/Llama-3.1-8B-Instruct"
    )
    assert budget["spec"]["maxUnavailable"] == 1

    selector = SELECTOR.format(name=name)
    eventually(
        lambda: (
            len(kube.list_json("replicasets", selector)) == 1
            and len(kube.list_json("pods", selector)) == 2
        ),
        what="the controller-manager to create the ReplicaSet and two pods",
    )


def test_deleting_the_modelservice_garbage_collects_everything(kube: Kube) -> None:
    name = unique("gone")
    kube.apply(engine_with(sample(name, replicas=1), gpuProduct="NVIDIA-NOT-HERE"))
    _wait_reconciled(kube, name)
    selector = SELECTOR.format(name=name)
    eventually(lambda: len(kube.list_json("pods", selector)) == 1, what="the engine pod")

    kube.cluster.kubectl("delete", "modelservice", name, "-n", kube.namespace, "--timeout=60s")

    def nothing_left() -> bool:
        return all(
            not kube.list_json(kind, selector)
            for kind in ("deployments", "replicasets", "pods", "services", "poddisruptionbudgets")
        )

    eventually(nothing_left, what="garbage collection of the children", timeout_s=90)


def test_editing_replicas_and_image_updates_the_deployment(kube: Kube) -> None:
    name = unique("edit")
    manifest = engine_with(sample(name, replicas=1), gpuProduct="NVIDIA-NOT-HERE")
    kube.apply(manifest)
    _wait_reconciled(kube, name)

    kube.apply(
        engine_with(
            sample(name, replicas=3),
            gpuProduct="NVIDIA-NOT-HERE",
            image="ghcr.io/sloserve/sloserve:0.2.0",
        )
    )
    _wait_reconciled(kube, name)
    deployment = _deployment(kube, name)
    assert deployment["spec"]["replicas"] == 3
    assert _container(deployment)["image"] == "ghcr.io/sloserve/sloserve:0.2.0"
    eventually(
        lambda: len(kube.list_json("replicasets", SELECTOR.format(name=name))) == 2,
        what="a new ReplicaSet for the new image",
    )


def test_kubectl_scale_scales_the_engines(kube: Kube) -> None:
    name = unique("scale")
    kube.apply(engine_with(sample(name, replicas=1), gpuProduct="NVIDIA-NOT-HERE"))
    _wait_reconciled(kube, name)

    kube.cluster.kubectl("scale", f"msvc/{name}", "--replicas=3", "-n", kube.namespace)
    eventually(
        lambda: _deployment(kube, name)["spec"]["replicas"] == 3,
        what="the Deployment to follow kubectl scale",
    )
    eventually(
        lambda: (kube.modelservice(name).get("status") or {}).get("replicas") == 3,
        what="status.replicas to count three engine pods",
    )
    scale = kube.get_json("modelservice", name)
    assert scale is not None
    shown = kube.cluster.kubectl(
        "get", "msvc", name, "-n", kube.namespace, "--subresource=scale", "-o", "json"
    ).stdout
    assert '"replicas": 3' in shown
    assert f"sloserve.io/modelservice={name}" in shown


def test_removing_a_field_removes_what_it_produced(kube: Kube) -> None:
    name = unique("prune")
    with_fields = engine_with(
        sample(name, replicas=1),
        gpuProduct="NVIDIA-NOT-HERE",
        env=[{"name": "EXTRA", "value": "1"}],
        resources={"requests": {"cpu": "250m"}, "limits": {"memory": "512Mi"}},
    )
    kube.apply(with_fields)
    _wait_reconciled(kube, name)
    pod = _deployment(kube, name)["spec"]["template"]["spec"]
    assert "affinity" in pod
    assert {"name": "EXTRA", "value": "1"} in pod["containers"][0]["env"]

    kube.apply(engine_with(sample(name, replicas=1), resources={"requests": {"cpu": "250m"}}))
    _wait_reconciled(kube, name)
    pod = _deployment(kube, name)["spec"]["template"]["spec"]
    assert "affinity" not in pod
    assert all(var["name"] != "EXTRA" for var in pod["containers"][0].get("env", []))
    assert pod["containers"][0]["resources"] == {"requests": {"cpu": "250m"}}


def test_a_child_deleted_behind_the_operators_back_comes_back(
    kube: Kube, operator_process: OperatorProcess
) -> None:
    name = unique("drift")
    kube.apply(engine_with(sample(name, replicas=1), gpuProduct="NVIDIA-NOT-HERE"))
    _wait_reconciled(kube, name)
    old_uid = kube.get_json("service", name)["metadata"]["uid"]  # type: ignore[index]

    kube.cluster.kubectl("delete", "service", name, "-n", kube.namespace)

    def recreated() -> bool:
        service = kube.get_json("service", name)
        return service is not None and service["metadata"]["uid"] != old_uid

    eventually(recreated, what="the operator to re-create the deleted Service", timeout_s=30)
    assert f"Service {name}" in operator_process.log()
