"""The FineTuneJob controller in a real operator process against the real API server: a job
naming a missing ModelService, a missing dataset ConfigMap or a key the ConfigMap lacks is held
with the field named; once they exist the worker pod is created beside the ModelService's
engines with the dataset mounted, and the job's status carries the throttle. (This API server
has no scheduler, so the engines never get a node: the predictor's placement is off here and
is checked in e2e/test_finetune.py.)"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from operator_harness import REPO, Kube, eventually, start_operator, unique

from sloserve.api import crd_files, finetunejob
from sloserve.builders import finetune_worker, labels
from sloserve_dev import handle

SAMPLES = REPO / "config" / "samples"


@pytest.fixture(scope="module")
def finetune_operator(
    kube_cluster: handle.ClusterHandle,
    module_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[pathlib.Path]:
    kube_cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=sloserve-tests",
        "-f", "-", input=crd_files.render_yaml(finetunejob.finetunejob_crd()),
    )  # fmt: skip
    kube_cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", f"crd/{finetunejob.CRD_NAME}"
    )
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    running = start_operator(
        kube_cluster,
        namespaces=[module_namespace],
        lease_name=unique("lease"),
        log_path=log_path,
        env={
            "SLOSERVE_OPERATOR__FINETUNE__ENABLED": "true",
            "SLOSERVE_OPERATOR__FINETUNE__CONTROL_INTERVAL_S": "1",
            "SLOSERVE_OPERATOR__FINETUNE__HELD_RETRY_S": "1",
            "SLOSERVE_OPERATOR__PLACEMENT__ENABLED": "false",
        },
    )
    yield log_path
    running.stop()


def _job(kube: Kube) -> dict[str, Any]:
    found = kube.get_json("ftj", "support-adapter")
    assert found is not None
    return found


def test_a_job_waits_for_its_modelservice_then_gets_a_worker_beside_the_engines(
    kube: Kube, finetune_operator: pathlib.Path
) -> None:
    job = yaml.safe_load((SAMPLES / "finetunejob-sim.yaml").read_text())
    kube.apply(job)

    def held() -> bool:
        conditions = (_job(kube).get("status") or {}).get("conditions") or []
        return any(c.get("reason") == "ModelServiceNotFound" for c in conditions)

    eventually(held, what="the job to be held for its missing ModelService")
    condition = _job(kube)["status"]["conditions"][0]
    assert "spec.modelService.name" in condition["message"]

    kube.apply(yaml.safe_load((SAMPLES / "modelservice-sim.yaml").read_text()))

    def held_for(reason: str, field: str) -> bool:
        conditions = (_job(kube).get("status") or {}).get("conditions") or []
        return any(c.get("reason") == reason and field in c.get("message", "") for c in conditions)

    eventually(
        lambda: held_for("DatasetNotFound", "spec.dataset.configMap.name"),
        what="the job to be held for its missing dataset ConfigMap, naming the field",
    )
    config_map: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "support-tickets"},
        "data": {"other.jsonl": '{"text": "hello"}\n'},
    }
    kube.apply(config_map)
    eventually(
        lambda: held_for("DatasetNotFound", "spec.dataset.configMap.key"),
        what="the job to be held for the key its ConfigMap lacks, naming the field",
    )
    kube.apply(config_map | {"data": {"train.jsonl": '{"text": "hello"}\n'}})
    pod_name = finetune_worker.worker_pod_name("support-adapter")
    eventually(lambda: kube.get_json("pod", pod_name) is not None, what="the worker pod")
    pod = kube.get_json("pod", pod_name)
    assert pod is not None
    affinity = pod["spec"]["affinity"]["podAffinity"]
    selector = affinity["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]
    assert selector["matchLabels"] == labels.selector_labels("llama-8b-sim")
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "FineTuneJob"
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["sloserve"]
    assert container["args"][0] == "finetune-worker"
    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
    assert volumes["dataset"]["configMap"]["name"] == "support-tickets"
    conditions = {c["type"]: c for c in _job(kube)["status"]["conditions"]}
    assert conditions["DatasetResolved"]["status"] == "True"
    assert conditions["Placed"]["reason"] == "NotPredicted"

    def throttled_blind() -> bool:
        status = _job(kube).get("status") or {}
        return (status.get("throttle") or {}).get("reason") == "no SLO figures"

    # no gateway reports figures here: the throttle holds the job at share 0, never ramps blind
    eventually(throttled_blind, what="the throttle's decision in the job's status")
    assert _job(kube)["status"]["throttle"]["share"] == 0.0
