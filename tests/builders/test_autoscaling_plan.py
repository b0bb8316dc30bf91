"""What the autoscaling controller computes from a spec, the gateway's figures and the pods:
settings, demand, attainment, start time, and the status and Event of a decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sloserve.api.spec import ModelServiceSpec
from sloserve.api.status import ModelServiceStatus
from sloserve.autoscaling import recommender
from sloserve.builders import autoscaling as plan
from sloserve.report import model

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _spec(**scaling: Any) -> ModelServiceSpec:
    return ModelServiceSpec.model_validate(
        {
            "model": "m",
            "engine": {"kind": "sim"},
            "replicas": 2,
            "sloClasses": [
                {"name": "interactive", "ttft": "500ms", "tpot": "50ms"},
                {"name": "batch", "ttft": "15s", "tpot": "50ms", "maxPromptTokens": 4000},
            ],
            "defaultClass": "interactive",
            "autoscaling": {"maxReplicas": 6, **scaling},
        }
    )


def _counts(**values: Any) -> model.Counts:
    fields: dict[str, Any] = {
        "requests": 0.0,
        "admitted": 0.0,
        "rejected": {},
        "rejected_total": 0.0,
        "finished": {},
        "client_errors": 0.0,
        "attained": 0.0,
        "output_tokens": 0.0,
        "prompt_tokens": 0.0,
        "attainment": None,
        "goodput_rps": 0.0,
    }
    fields.update(values)
    return model.Counts(**fields)


def _latency(objective: str) -> model.Latency:
    return model.Latency(
        objective=objective,  # type: ignore[arg-type]
        target_seconds=None,
        observations=0,
        quantiles=[],
        within_target=None,
        buckets=[],
    )


def _service(counts: model.Counts) -> model.ModelServiceReport:
    return model.ModelServiceReport(
        namespace="team-a",
        name="llama",
        model="m",
        counts=counts,
        classes=[
            model.ClassReport(
                name="interactive",
                counts=counts,
                ttft=_latency("ttft"),
                tpot=_latency("tpot"),
                timeline=[],
            )
        ],
        utilization=model.Utilization(
            engines=0,
            running_mean=None,
            waiting_mean=None,
            kv_cache_usage_mean=None,
            kv_cache_usage_max=None,
            gateway_inflight_mean=None,
            queue_depth_mean=None,
            queue_depth_max=None,
        ),
        engines=[],
    )


def _pod(start_s: float | None, *, terminating: bool = False) -> plan.PodTimes:
    return plan.PodTimes(
        created=T0,
        ready_since=None if start_s is None else T0 + timedelta(seconds=start_s),
        terminating=terminating,
    )


def test_settings_follow_the_spec() -> None:
    spec = _spec(minReplicas=0, scaleUpStabilization="30s", scaleDownDelay="2m", maxSurge=3)
    assert spec.autoscaling is not None
    settings = plan.scaling_settings(spec.autoscaling, start_time_s=45.0)
    assert (settings.min_replicas, settings.max_replicas, settings.max_surge) == (0, 6, 3)
    assert (settings.scale_up_stabilization_s, settings.scale_down_delay_s) == (30.0, 120.0)
    assert settings.start_time_s == 45.0


def test_demand_comes_from_the_gateway_counters_over_the_window() -> None:
    counts = _counts(
        requests=600.0,
        prompt_tokens=600.0 * 900,
        output_tokens=500.0 * 200,
        finished={"served": 500.0},
        rejected_total=20.0,
        attainment=0.9,
    )
    seen = plan.observation(
        _service(counts),
        spec=_spec(targetAttainment=0.97),
        window_s=60.0,
        now_s=1.0,
        current_replicas=2,
        pods=[_pod(40.0), _pod(None)],
    )
    assert seen.demand is not None
    interactive, batch = seen.demand
    assert interactive.rate_rps == pytest.approx(10.0)
    assert (interactive.mean_prompt_tokens, interactive.mean_output_tokens) == (900.0, 200.0)
    assert interactive.target_attainment == 0.97
    assert seen.attainment == {"interactive": 0.9, "batch": None}
    # a class without figures is sized with its declared longest prompt
    assert (batch.rate_rps, batch.mean_prompt_tokens) == (0.0, 4000.0)
    assert (seen.current_replicas, seen.ready_replicas) == (2, 1)


def test_few_ended_requests_give_no_attainment_to_correct_by() -> None:
    counts = _counts(requests=5.0, finished={"served": 5.0}, attainment=0.2)
    seen = plan.observation(
        _service(counts), spec=_spec(), window_s=60.0, now_s=1.0, current_replicas=1, pods=[]
    )
    assert seen.attainment["interactive"] is None


def test_without_gateway_figures_there_is_no_demand() -> None:
    seen = plan.observation(
        None, spec=_spec(), window_s=60.0, now_s=1.0, current_replicas=1, pods=[]
    )
    assert seen.demand is None


def test_deleted_pods_count_as_draining_and_not_as_ready() -> None:
    seen = plan.observation(
        None,
        spec=_spec(),
        window_s=60.0,
        now_s=1.0,
        current_replicas=1,
        pods=[_pod(30.0), _pod(30.0, terminating=True)],
    )
    assert (seen.ready_replicas, seen.draining_replicas) == (1, 1)


def test_the_start_time_is_the_longest_creation_to_ready_of_live_pods() -> None:
    pods = [_pod(30.0), _pod(75.0), _pod(None), _pod(500.0, terminating=True)]
    assert plan.measured_start_time_s(pods) == 75.0
    assert plan.measured_start_time_s([_pod(None)]) is None


def test_pod_times_are_read_from_a_pod_object() -> None:
    pod = plan.PodTimes.from_body(
        {
            "metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "lastTransitionTime": "2026-01-01T00:01:05Z",
                    }
                ]
            },
        }
    )
    assert plan.measured_start_time_s([pod]) == 65.0
    assert not pod.terminating


def _decision(desired: int, reason: str = recommender.Reason.DEMAND_ABOVE_CAPACITY) -> Any:
    return recommender.Decision(
        desired_replicas=desired,
        recommended_replicas=desired,
        reason=reason,
        message="demand 30.00 req/s",
        demand_rps=30.0,
        capacity_rps=12.3456,
        correction=1.0,
    )


def test_the_status_records_the_decision_in_the_crd_shape() -> None:
    patch = plan.status_patch(_decision(3), decided_at=T0, start_time_s=61.04)
    status = ModelServiceStatus.model_validate(patch)
    assert status.autoscaling is not None
    assert status.autoscaling.desired_replicas == 3
    assert status.autoscaling.predicted_capacity_rps == 12.346
    assert status.autoscaling.start_seconds == 61.0
    assert status.autoscaling.reason == "DemandAboveCapacity"


def test_an_event_only_when_the_replicas_change() -> None:
    assert plan.decision_event(_decision(2, recommender.Reason.STEADY), replicas=2) is None
    reason, message = plan.decision_event(_decision(4), replicas=2) or ("", "")
    assert reason == "DemandAboveCapacity"
    assert message.startswith("scaled up from 2 to 4 replicas")
    down = plan.decision_event(_decision(1, recommender.Reason.DEMAND_BELOW_CAPACITY), replicas=2)
    assert down is not None
    assert down[1].startswith("scaled down from 2 to 1")
