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
