"""The status and Events of a ModelService tell whether its engines serve, and why not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from operator_harness import ABSENT_GPU, Kube, engine_with, eventually, sample, unique

pytestmark = pytest.mark.usefixtures("operator_process")

H100 = "NVIDIA-H100-80GB-HBM3"


def _has_condition(kube: Kube, name: str, kind: str, status: str, reason: str) -> bool:
    condition = kube.condition(name, kind)
    return condition is not None and (condition["status"], condition["reason"]) == (status, reason)


def _reasons(events: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(event["type"], event["reason"]) for event in events}


def test_every_action_is_recorded_as_an_event(kube: Kube) -> None:
    name = unique("events")
    kube.apply(engine_with(sample(name, replicas=1), gpuProduct=ABSENT_GPU))
    eventually(lambda: kube.reconciled(name), what="the reconcile")
    eventually(
        lambda: len([e for e in kube.events(name) if e["reason"] == "Created"]) == 1,
        what="one Created Event naming the three children",
    )
    messages = [e["message"] for e in kube.events(name) if e["reason"] == "Created"]
    assert messages == [
        f"created Service, Deployment and PodDisruptionBudget {name} for generation 1"
    ]
    assert all(
        e["source"].get("component") == "sloserve-operator"
        for e in kube.events(name)
        if e["reason"] == "Created"
    )


def test_an_unknown_placement_workload_kind_is_an_invalid_spec(kube: Kube) -> None:
    # The API server checks the spec; the workload kinds the predictor knows only the operator
    # does, so this refusal is the operator's.
    name = unique("badkind")
    body = sample(name, replicas=1)
    body["metadata"]["annotations"] = {"placement.sloserve.io/workload-kind": "no-such-kind"}
    kube.apply(body)
    eventually(
        lambda: _has_condition(kube, name, "Degraded", "True", "InvalidSpec"),
        what="Degraded=True with reason InvalidSpec",
    )
    degraded = kube.condition(name, "Degraded")
    assert degraded is not None
    assert "placement.sloserve.io/workload-kind" in degraded["message"]
    assert kube.get_json("deployment", name) is None
    eventually(
        lambda: ("Warning", "InvalidSpec") in _reasons(kube.events(name)),
        what="a Warning Event for the invalid spec",
    )


def test_args_the_operator_owns_are_refused_by_the_api_server(kube: Kube) -> None:
    name = unique("badargs")
    refused = kube.cluster.kubectl(
        "apply",
        "-n",
        kube.namespace,
        "-f",
        "-",
        input=json.dumps(engine_with(sample(name, replicas=1), args=["--port=9999"])),
        check=False,
    )
    assert refused.returncode != 0
    assert "spec.engine.args" in refused.stderr
    assert "--port is set by the operator from engine.port" in refused.stderr


# What a vLLM engine's container status holds after vLLM refused an unknown flag: its last log
# lines as the termination message (FallbackToLogsOnError), exit status 2 from argparse.
_VLLM_REFUSAL = (
    "usage: api_server.py [-h] [--headless] [--api-server-count API_SERVER_COUNT]\n"
    "                     [--config CONFIG] [--disable-log-stats]\n"
    "api_server.py: error: unrecognized arguments: --no-such-flag\n"
)


def _engine_refused_its_flag(kube: Kube, pod_name: str) -> None:
    """Writes the pod's status as a kubelet would after the engine exited on a refused flag."""
    kube.core.patch_namespaced_pod_status(
        pod_name,
        kube.namespace,
        {
            "status": {
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {
                        "name": "engine",
                        "image": "vllm/vllm-openai:v0.32.0",
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {
                            "terminated": {
                                "reason": "Error",
                                "exitCode": 2,
                                "message": _VLLM_REFUSAL,
                            }
                        },
                    }
                ],
            }
        },
    )


def test_an_engine_refusing_a_flag_in_engine_args_degrades_naming_the_flag(kube: Kube) -> None:
    name = unique("refused")
    manifest = engine_with(
        sample(name, replicas=1),
        kind="vllm",
        image="vllm/vllm-openai:v0.32.0",
        gpus=1,
        args=["--max-num-seqs=4", "--no-such-flag"],
    )
    kube.apply(manifest)
    selector = f"sloserve.io/modelservice={name}"
    eventually(lambda: bool(kube.list_json("pods", selector)), what="the engine pod")
    (pod,) = kube.list_json("pods", selector)
    _engine_refused_its_flag(kube, pod["metadata"]["name"])
    eventually(
        lambda: _has_condition(kube, name, "Degraded", "True", "EngineArgsRejected"),
        what="Degraded=True with reason EngineArgsRejected",
    )
    degraded = kube.condition(name, "Degraded")
    assert degraded is not None
    assert "unknown flag spec.engine.args[1] --no-such-flag" in degraded["message"]
    assert (
        "the engine said: api_server.py: error: unrecognized arguments: --no-such-flag"
        in degraded["message"]
    )
    ready = kube.condition(name, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "EngineArgsRejected")
    eventually(
        lambda: ("Warning", "EngineArgsRejected") in _reasons(kube.events(name)),
        what="a Warning Event for the refused flag",
    )
