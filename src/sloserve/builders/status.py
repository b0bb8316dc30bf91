"""A ModelService's status, computed from what the operator observes of its engines.

Pure: the clock is an argument. The operator owns `observedGeneration`, `replicas`,
`readyReplicas`, `selector`, `placement` and `conditions`; the SLO figures are written by others
and never touched here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sloserve.api.status import (
    Condition,
    ConditionStatus,
    ConditionType,
    ModelServiceStatus,
    PodPlacement,
)
from sloserve.builders import labels, problems, profile_choice
from sloserve.builders.profile_check import ProfileCheck
from sloserve.builders.status_inputs import Observation, Reason, ReconcileFailure, Targets

__all__ = [
    "OWNED_FIELDS",
    "Observation",
    "Reason",
    "ReconcileFailure",
    "Targets",
    "build_status",
    "status_patch",
]

#: The status fields the operator writes; everything else in status belongs to others.
OWNED_FIELDS = (
    "observed_generation",
    "replicas",
    "ready_replicas",
    "selector",
    "placement",
    "conditions",
)


def _ready(
    targets: Targets, observation: Observation, found: list[problems.Problem]
) -> tuple[ConditionStatus, Reason, str]:
    desired = targets.replicas
    deployment = observation.deployment
    ready = deployment.ready_replicas if deployment is not None else 0
    counted = f"{ready} of {desired} engines ready"
    if desired == 0:
        return ConditionStatus.FALSE, Reason.SCALED_TO_ZERO, "spec.replicas is 0"
    if deployment is not None and ready >= desired:
        return ConditionStatus.TRUE, Reason.ENGINES_READY, counted
    if found:
        return ConditionStatus.FALSE, found[0].reason, f"{counted}: {found[0].message}"
    if deployment is None:
        return (
            ConditionStatus.FALSE,
            Reason.RECONCILING,
            "the engines' Deployment does not exist yet",
        )
    return ConditionStatus.FALSE, Reason.ENGINES_STARTING, counted


def _progressing(targets: Targets, observation: Observation) -> tuple[ConditionStatus, Reason, str]:
    failure = observation.failure
    if failure is not None and failure.reason is Reason.INVALID_SPEC:
        return ConditionStatus.FALSE, failure.reason, failure.message
    if observation.applied_generation != observation.generation:
        return (
            ConditionStatus.TRUE,
            Reason.RECONCILING,
            f"applying generation {observation.generation} to the engines",
        )
    deployment = observation.deployment
    if deployment is None:
        return ConditionStatus.TRUE, Reason.RECONCILING, "waiting for the engines' Deployment"
    if deployment.stalled_message is not None:
        return (
            ConditionStatus.FALSE,
            Reason.PROGRESS_DEADLINE_EXCEEDED,
            deployment.stalled_message,
        )
    if not deployment.rollout_settled:
        return (
            ConditionStatus.TRUE,
            Reason.ROLLING_OUT,
            f"{deployment.updated_replicas} of {targets.replicas} engines updated, "
            f"{deployment.available_replicas} available, {deployment.replicas} pods in total",
        )
    return (
        ConditionStatus.FALSE,
        Reason.ROLLOUT_COMPLETE,
        f"every engine runs generation {observation.generation}",
    )


def _profile_verdicts(
    check: ProfileCheck | None,
) -> list[tuple[ConditionType, tuple[ConditionStatus, Reason, str]]]:
    """`ProfileResolved` and `SLOAttainable`, when the spec was valid enough to check."""
    if check is None:
        return []
    if not check.resolved and check.rule != "named":
        detail = (
            f"{check.detail}; predictions start from the conservative prior "
            f"{profile_choice.CONSERVATIVE_PRIOR}, calibrated online by the gateway"
        )
        return [
            (
                ConditionType.PROFILE_RESOLVED,
                (ConditionStatus.FALSE, Reason.NO_PROFILE_FITS, detail),
            ),
            (
                ConditionType.SLO_ATTAINABLE,
                (ConditionStatus.UNKNOWN, Reason.NO_PROFILE_FITS, "no profile to check against"),
            ),
        ]
    if not check.resolved:
        unknown = problems.profile_unknown_message(check)
        return [
            (
                ConditionType.PROFILE_RESOLVED,
                (ConditionStatus.FALSE, Reason.PROFILE_UNKNOWN, unknown),
            ),
            (
                ConditionType.SLO_ATTAINABLE,
                (ConditionStatus.UNKNOWN, Reason.PROFILE_UNKNOWN, "no profile to check against"),
            ),
        ]
    found = (
        (ConditionStatus.TRUE, Reason.PROFILE_FOUND, f"profile {check.profile}")
        if check.rule == "named"
        else (ConditionStatus.TRUE, Reason.PROFILE_CHOSEN, f"{check.rule}: {check.detail}")
    )
    if check.infeasible:
        attainable = (
            ConditionStatus.FALSE,
            Reason.TTFT_BELOW_BEST_CASE_PREFILL,
            "; ".join(entry.describe() for entry in check.infeasible)
            + f" on profile {check.chosen}: those requests miss their TTFT even on an idle "
            "engine; raise the ttft, lower maxPromptTokens or serve on faster GPUs",
        )
    elif check.checked_classes:
        attainable = (
            ConditionStatus.TRUE,
            Reason.OBJECTIVES_ATTAINABLE,
            f"classes {', '.join(check.checked_classes)}: the ttft of each is above the "
            f"best-case prefill of its maxPromptTokens on profile {check.chosen}",
        )
    else:
        attainable = (
            ConditionStatus.UNKNOWN,
            Reason.NO_PROMPT_BOUND,
            "no class sets maxPromptTokens, so no TTFT objective can be checked against the "
            "profile",
        )
    return [
        (ConditionType.PROFILE_RESOLVED, found),
        (ConditionType.SLO_ATTAINABLE, attainable),
    ]


def _condition(
    condition_type: ConditionType,
    verdict: tuple[ConditionStatus, Reason, str],
    *,
    observation: Observation,
    now: datetime,
) -> Condition:
    status, reason, message = verdict
    previous = observation.previous.condition(condition_type) if observation.previous else None
    since = previous.last_transition_time if previous and previous.status is status else now
    return Condition(
        type=condition_type.value,
        status=status,
        reason=reason.value,
        message=message,
        last_transition_time=since,
        observed_generation=observation.generation,
    )


def _placement(observation: Observation) -> tuple[PodPlacement, ...]:
    known: dict[tuple[str, str], PodPlacement] = {}
    if observation.previous is not None:
        known = {(p.pod, p.node): p for p in observation.previous.placement}
    placed = sorted(
        (pod for pod in observation.pods if pod.node is not None and not pod.terminating),
        key=lambda pod: pod.name,
    )
    return tuple(
        known.get((pod.name, pod.node), PodPlacement(pod=pod.name, node=pod.node))
        for pod in placed
        if pod.node is not None
    )


def build_status(
    *, name: str, targets: Targets, observation: Observation, now: datetime
) -> ModelServiceStatus:
    """The operator's part of the status of ModelService `name`: counts from the Deployment,
    where each engine runs, and the Ready, Progressing and Degraded conditions. A condition
    keeps its `lastTransitionTime` while its status stays the same. `now` must be aware."""
    now = now.replace(microsecond=0)
    found = problems.problems(targets, observation)
    degraded = (
        (ConditionStatus.TRUE, found[0].reason, found[0].message)
        if found
        else (ConditionStatus.FALSE, Reason.AS_EXPECTED, "")
    )
    deployment = observation.deployment
    return ModelServiceStatus(
        observed_generation=observation.applied_generation,
        replicas=deployment.replicas if deployment is not None else 0,
        ready_replicas=deployment.ready_replicas if deployment is not None else 0,
        selector=labels.selector_text(labels.selector_labels(name)),
        placement=_placement(observation),
        conditions=(
            _condition(
                ConditionType.READY,
                _ready(targets, observation, found),
                observation=observation,
                now=now,
            ),
            _condition(
                ConditionType.PROGRESSING,
                _progressing(targets, observation),
                observation=observation,
                now=now,
            ),
            _condition(ConditionType.DEGRADED, degraded, observation=observation, now=now),
            *(
                _condition(condition_type, verdict, observation=observation, now=now)
                for condition_type, verdict in _profile_verdicts(targets.profile)
            ),
        ),
    )


def status_patch(new: ModelServiceStatus, previous: ModelServiceStatus | None) -> dict[str, Any]:
    """The merge patch of `status` that writes the operator's fields of `new`, or `{}` when
    `previous` already holds them (so that an unchanged status costs no request)."""
    if previous is not None and all(
        getattr(new, field) == getattr(previous, field) for field in OWNED_FIELDS
    ):
        return {}
    # Unset values are left out rather than sent as null, which a merge patch reads as "delete":
    # an unapplied generation is simply not written, and lists are replaced whole anyway.
    return new.model_dump(mode="json", by_alias=True, include=set(OWNED_FIELDS), exclude_none=True)
