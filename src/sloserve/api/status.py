"""The observed state of a ModelService, written by the operator through the status subresource.

Conditions follow the Kubernetes convention (one entry per type, each with a reason and the
generation it describes); the SLO figures are those of the gateway over a sliding window.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import Annotated

from pydantic import AwareDatetime, Field

from sloserve.api import cel
from sloserve.api.autoscaling import AutoscalingStatus
from sloserve.api.fields import INT32_MAX, ApiModel, DnsLabel, DurationText

__all__ = [
    "ClassSLOStatus",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "ModelServiceStatus",
    "PodPlacement",
    "SLOStatus",
    "summarize_attainment",
]

# The shape metav1.Condition gives condition types and reasons.
_CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
_INT32: cel.JsonDict = {"format": "int32"}


class ConditionType(enum.StrEnum):
    """The condition types the operator reports."""

    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    PROFILE_RESOLVED = "ProfileResolved"
    SLO_ATTAINABLE = "SLOAttainable"


class ConditionStatus(enum.StrEnum):
    """Whether a condition holds."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """One aspect of the ModelService's state, as in `metav1.Condition`."""

    type: str = Field(max_length=316, pattern=_CONDITION_TYPE_PATTERN)
    """`Ready`, `Progressing`, `Degraded`, `ProfileResolved` or `SLOAttainable`."""

    status: ConditionStatus
    """`True`, `False` or `Unknown`."""

    reason: str = Field(min_length=1, max_length=1024, pattern=_REASON_PATTERN)
    """Machine-readable CamelCase cause of the last transition."""

    message: str = Field(default="", max_length=32768)
    """Human-readable detail of the last transition."""

    last_transition_time: AwareDatetime
    """When `status` last changed."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The `metadata.generation` this condition was computed from."""


class PodPlacement(ApiModel):
    """Where one engine pod runs and the slowdown predicted for it there."""

    pod: str = Field(min_length=1, max_length=253)
    """Pod name."""

    node: str = Field(min_length=1, max_length=253)
    """Node name."""

    predicted_slowdown: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Predicted slowdown from co-located work at placement time (1 = none)."""


class ClassSLOStatus(ApiModel):
    """How well one class's objectives were met over the window."""

    name: DnsLabel
    """Class name."""

    requests: int = Field(default=0, ge=0)
    """Requests of this class that arrived."""

    admitted: int = Field(default=0, ge=0)
    """Requests admitted for service."""

    rejected: int = Field(default=0, ge=0)
    """Requests the gateway refused, for any reason (TTFT or TPOT unattainable, queue full, …)."""

    attained: int = Field(default=0, ge=0)
    """Requests served within both their TTFT and TPOT objectives."""

    attainment: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    """`attained / requests` (rejections count as misses); absent when no request arrived."""

    goodput_rps: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Requests per second served within their objectives."""

    ttft_p99_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """99th percentile time to first token, in milliseconds."""

    tpot_p99_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """99th percentile time per output token, in milliseconds."""


class SLOStatus(ApiModel):
    """Per-class SLO figures over a sliding window."""

    window: DurationText
    """Length of the window the figures cover, e.g. `5m`."""

    updated_at: AwareDatetime | None = None
    """When the figures were computed."""

    classes: Annotated[
        tuple[ClassSLOStatus, ...], Field(json_schema_extra=cel.list_map("name"))
    ] = ()
    """Figures per class."""


class ModelServiceStatus(ApiModel):
    """Observed state of a ModelService."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The `metadata.generation` the operator last acted on."""

    conditions: Annotated[tuple[Condition, ...], Field(json_schema_extra=cel.list_map("type"))] = ()
    """`Ready`, `Progressing`, `Degraded`, `ProfileResolved` and `SLOAttainable`, one entry per
    type."""

    replicas: int = Field(default=0, ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """Engine pods that exist."""

    ready_replicas: int = Field(default=0, ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """Engine pods that are ready to serve."""

    selector: str | None = None
    """Label selector of the engine pods, in text form, for the scale subresource."""

    placement: Annotated[
        tuple[PodPlacement, ...], Field(json_schema_extra=cel.list_map("pod"))
    ] = ()
    """Where each engine pod runs."""

    slo: SLOStatus | None = None
    """Per-class SLO figures."""

    attainment: str | None = Field(default=None, max_length=1024)
    """Attainment per class in one line, e.g. `interactive 97% standard 99%`, for
    `kubectl get`."""

    autoscaling: AutoscalingStatus | None = None
    """The autoscaler's last decision, when `spec.autoscaling` is set."""

    def condition(self, condition_type: str) -> Condition | None:
        """The condition of type `condition_type`, if reported."""
        return next((c for c in self.conditions if c.type == condition_type), None)


def summarize_attainment(classes: Sequence[ClassSLOStatus]) -> str:
    """One line of attainment per class, in the given order: `interactive 97% standard 99.9%`.

    Percentages are rounded down to a tenth, so 100% means every request met its objectives; a
    class without requests shows `-`.
    """
    parts: list[str] = []
    for slo_class in classes:
        if slo_class.attainment is None:
            parts.append(f"{slo_class.name} -")
        else:
            # The epsilon keeps 0.97 (stored as 0.96999...) from showing as 96.9%.
            tenths = math.floor(slo_class.attainment * 1000 + 1e-9) / 10
            parts.append(f"{slo_class.name} {tenths:g}%")
    return " ".join(parts)
