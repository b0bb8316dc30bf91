"""The Kubernetes Events that changes of a ModelService's conditions deserve."""

from __future__ import annotations

import dataclasses

from sloserve.api.status import ConditionStatus, ConditionType, ModelServiceStatus

__all__ = ["ConditionEvent", "condition_events"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConditionEvent:
    """An Event to post on the ModelService: `type` is `Normal` or `Warning`."""

    type: str
    reason: str
    message: str


def _holds(status: ModelServiceStatus | None, condition_type: ConditionType) -> bool:
    condition = status.condition(condition_type) if status is not None else None
    return condition is not None and condition.status is ConditionStatus.TRUE


def condition_events(
    previous: ModelServiceStatus | None, new: ModelServiceStatus
) -> list[ConditionEvent]:
    """Events for the transitions from `previous` to `new`: becoming ready, losing readiness,
    becoming degraded (or degraded for a new reason), recovering, and objectives becoming
    unattainable on the profile. Nothing when the conditions' statuses and the degraded reason
    stay the same, so that repeating the same observation posts no Event."""
    events: list[ConditionEvent] = []
    ready = new.condition(ConditionType.READY)
    was_ready = _holds(previous, ConditionType.READY)
    if ready is not None and ready.status is ConditionStatus.TRUE and not was_ready:
        events.append(ConditionEvent(type="Normal", reason="Ready", message=ready.message))
    elif ready is not None and ready.status is not ConditionStatus.TRUE and was_ready:
        events.append(
            ConditionEvent(
                type="Warning", reason="NotReady", message=f"{ready.reason}: {ready.message}"
            )
        )
    degraded = new.condition(ConditionType.DEGRADED)
    before = previous.condition(ConditionType.DEGRADED) if previous is not None else None
    was_degraded = before is not None and before.status is ConditionStatus.TRUE
    if degraded is not None and degraded.status is ConditionStatus.TRUE:
        if not was_degraded or (before is not None and before.reason != degraded.reason):
            events.append(
                ConditionEvent(type="Warning", reason=degraded.reason, message=degraded.message)
            )
    elif was_degraded:
        events.append(
            ConditionEvent(
                type="Normal", reason="Recovered", message="no problem with the engines remains"
            )
        )
    attainable = new.condition(ConditionType.SLO_ATTAINABLE)
    before = previous.condition(ConditionType.SLO_ATTAINABLE) if previous is not None else None
    if (
        attainable is not None
        and attainable.status is ConditionStatus.FALSE
        and (before is None or before.status is not ConditionStatus.FALSE)
    ):
        events.append(
            ConditionEvent(type="Warning", reason=attainable.reason, message=attainable.message)
        )
    return events
