"""What the autoscaling controller computes, without I/O: the recommender's settings from the
spec, its observation from the gateway's figures and the engine pods, and the status, scale and
Event it writes from a decision.

Demand per class comes from the gateway's counters over the SLO collector's window: arrivals
per second (`sloserve_requests_total`), mean prompt (`sloserve_prompt_tokens_total`) and output
(`sloserve_output_tokens_total` over the served) lengths, and attainment over the requests that
ended. An engine's start time is measured on its pods: from creation to readiness.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sloserve.api.autoscaling import Autoscaling, AutoscalingStatus
from sloserve.api.spec import ModelServiceSpec
from sloserve.autoscaling import capacity, recommender
from sloserve.report import model

__all__ = [
    "DEFAULT_START_TIME_S",
    "MIN_ENDED_FOR_ATTAINMENT",
    "PodTimes",
    "decision_event",
    "measured_start_time_s",
    "observation",
    "scaling_settings",
    "status_patch",
]

#: Expected engine start before one was measured: a vLLM engine of an 8B model loading its
#: weights from a local cache and capturing its CUDA graphs takes about a minute.
DEFAULT_START_TIME_S = 60.0

#: A class's measured attainment counts in the feedback only over this many ended requests.
MIN_ENDED_FOR_ATTAINMENT = 20

#: A prompt length to size with before the gateway has counted any (its figures come first).
_UNKNOWN_PROMPT_TOKENS = 1024.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class PodTimes:
    """One engine pod: when it was created, when it became ready (None: not yet), whether it is
    being deleted."""

    created: datetime | None
    ready_since: datetime | None
    terminating: bool

    @staticmethod
    def from_body(body: Mapping[str, Any]) -> PodTimes:
        """From a Pod object."""
        metadata = body.get("metadata") or {}
        ready_since = None
        for condition in (body.get("status") or {}).get("conditions") or ():
            if condition.get("type") == "Ready" and condition.get("status") == "True":
                ready_since = _time(condition.get("lastTransitionTime"))
        return PodTimes(
            created=_time(metadata.get("creationTimestamp")),
            ready_since=ready_since,
            terminating=metadata.get("deletionTimestamp") is not None,
        )


def _time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def measured_start_time_s(pods: Iterable[PodTimes]) -> float | None:
    """The longest creation-to-ready time of the ready pods (the cautious figure: a start
    expected too short would admit what the new engine cannot serve in time)."""
    starts = [
        (pod.ready_since - pod.created).total_seconds()
        for pod in pods
        if pod.created is not None and pod.ready_since is not None and not pod.terminating
    ]
    return max(starts) if starts else None


def scaling_settings(scaling: Autoscaling, *, start_time_s: float) -> recommender.ScalingSettings:
    """The recommender's settings for `spec.autoscaling`."""
    return recommender.ScalingSettings(
        min_replicas=scaling.min_replicas,
        max_replicas=scaling.max_replicas,
        scale_up_stabilization_s=scaling.scale_up_stabilization_s,
        scale_down_delay_s=scaling.scale_down_delay_s,
        max_surge=scaling.max_surge,
        start_time_s=start_time_s,
    )


def observation(
    service: model.ModelServiceReport | None,
    *,
    spec: ModelServiceSpec,
    window_s: float,
    now_s: float,
    current_replicas: int,
    pods: Iterable[PodTimes],
    held_requests: int = 0,
) -> recommender.Observation:
    """The recommender's view: per-class demand and attainment from `service` (the gateway's
    figures of this ModelService over `window_s`; None when no gateway reported it, which the
    recommender reads as no figures) and the replicas from the pods."""
    scaling = spec.autoscaling
    if scaling is None:
        raise ValueError("the spec has no autoscaling")
    listed = list(pods)
    ready = sum(1 for pod in listed if pod.ready_since is not None and not pod.terminating)
    draining = sum(1 for pod in listed if pod.terminating)
    demand: tuple[capacity.ClassDemand, ...] | None = None
    attainment: dict[str, float | None] = {}
    if service is not None and window_s > 0:
        by_name = {report.name: report for report in service.classes}
        items = []
        for slo_class in spec.slo_classes:
            counts = by_name[slo_class.name].counts if slo_class.name in by_name else None
            requests = counts.requests if counts is not None else 0.0
            served = counts.finished.get("served", 0.0) if counts is not None else 0.0
            prompt = (
                counts.prompt_tokens / requests
                if counts is not None and requests > 0 and counts.prompt_tokens > 0
                else float(slo_class.max_prompt_tokens or _UNKNOWN_PROMPT_TOKENS)
            )
            output = counts.output_tokens / served if counts is not None and served > 0 else 0.0
            items.append(
                capacity.ClassDemand(
                    name=slo_class.name,
                    rate_rps=requests / window_s,
                    mean_prompt_tokens=prompt,
                    mean_output_tokens=output,
                    ttft_s=slo_class.ttft_seconds,
                    tpot_s=slo_class.tpot_seconds,
                    target_attainment=scaling.target_for(slo_class.name),
                )
            )
            ended = (
                counts.rejected_total + sum(counts.finished.values()) if counts is not None else 0
            )
            attainment[slo_class.name] = (
                counts.attainment
                if counts is not None and ended >= MIN_ENDED_FOR_ATTAINMENT
                else None
            )
        demand = tuple(items)
    return recommender.Observation(
        now_s=now_s,
        demand=demand,
        attainment=attainment,
        queue_time_s=None,
        current_replicas=current_replicas,
        ready_replicas=ready,
        draining_replicas=draining,
        held_requests=held_requests,
        window_s=window_s,
    )


def status_patch(
    decision: recommender.Decision, *, decided_at: datetime, start_time_s: float | None
) -> dict[str, Any]:
    """The `status.autoscaling` merge patch of a decision."""
    record = AutoscalingStatus(
        desired_replicas=decision.desired_replicas,
        recommended_replicas=decision.recommended_replicas,
        reason=decision.reason,
        message=decision.message[:4096],
        predicted_capacity_rps=(
            round(decision.capacity_rps, 3) if decision.capacity_rps is not None else None
        ),
        demand_rps=round(decision.demand_rps, 3) if decision.demand_rps is not None else None,
        start_seconds=round(start_time_s, 1) if start_time_s is not None else None,
        decided_at=decided_at,
    )
    return {"autoscaling": record.model_dump(mode="json", exclude_none=True)}


def decision_event(decision: recommender.Decision, *, replicas: int) -> tuple[str, str] | None:
    """(reason, message) of the Event that records a change of `spec.replicas` from `replicas`
    to the decision's count; None when the decision keeps it."""
    if decision.desired_replicas == replicas:
        return None
    verb = "up" if decision.desired_replicas > replicas else "down"
    message = (
        f"scaled {verb} from {replicas} to {decision.desired_replicas} replicas: {decision.message}"
    )
    return decision.reason, message
