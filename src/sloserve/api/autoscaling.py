"""`spec.autoscaling` and `status.autoscaling` of a ModelService: replicas that follow traffic.

The operator sets `spec.replicas` (through the scale subresource) to the fewest engines that keep
every class's objectives at its target attainment, from the gateway's per-class demand and the
latency profile's per-engine capacity, corrected by the attainment it measures. Every rule here
is also a schema constraint or CEL rule of the CRD, so the API server refuses what the models
refuse, in the same words.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, ConfigDict, Field, field_validator, model_validator

from sloserve.api import cel, durations
from sloserve.api.fields import INT32_MAX, ApiModel, DnsLabel, DurationText

__all__ = [
    "DEFAULT_SCALE_DOWN_DELAY",
    "DEFAULT_TARGET_ATTAINMENT",
    "MAX_CLASS_TARGETS",
    "Autoscaling",
    "AutoscalingStatus",
    "ClassTarget",
]

#: Attainment every class is held to when neither the ModelService nor the class names one.
DEFAULT_TARGET_ATTAINMENT = 0.95

#: How long lower demand must last before replicas are removed, when unset.
DEFAULT_SCALE_DOWN_DELAY = "5m"

#: Same bound as the SLO classes: one target per class at most.
MAX_CLASS_TARGETS = 16

_INT32: cel.JsonDict = {"format": "int32"}


class ClassTarget(ApiModel):
    """The attainment one class is held to, overriding `targetAttainment` for it."""

    name: DnsLabel
    """Name of one of `sloClasses`."""

    target_attainment: float = Field(gt=0, le=1, allow_inf_nan=False)
    """Share of the class's requests that must meet both objectives, above 0 and at most 1
    (`0.95`: 95%)."""


class Autoscaling(ApiModel):
    """Replicas that follow demand: between `minReplicas` and `maxReplicas`, the fewest that hold
    every class at its target attainment."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                # a fixed message: the API server's cost estimate of string(int) is unbounded
                message="minReplicas must be at most maxReplicas",
                field_path=".minReplicas",
            )
        )
    )

    min_replicas: int = Field(default=1, ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """Fewest replicas; 0 lets the ModelService scale to zero when no request comes (the gateway
    then holds a request while a replica starts, or rejects it with a reason when the start
    would miss its deadline). Default 1."""

    max_replicas: int = Field(ge=1, le=INT32_MAX, json_schema_extra=_INT32)
    """Most replicas; at least 1 and at least `minReplicas`."""

    target_attainment: float = Field(
        default=DEFAULT_TARGET_ATTAINMENT, gt=0, le=1, allow_inf_nan=False
    )
    """Share of each class's requests that must meet both objectives, above 0 and at most 1;
    default 0.95. `classTargets` overrides it per class."""

    class_targets: Annotated[
        tuple[ClassTarget, ...],
        Field(max_length=MAX_CLASS_TARGETS, json_schema_extra=cel.list_map("name")),
    ] = ()
    """Per-class attainment targets, each naming one of `sloClasses`."""

    scale_up_stabilization: DurationText | None = None
    """How long a higher recommendation must hold before replicas are added (the lowest
    recommendation of this window is used); absent: add them at once."""

    scale_down_delay: DurationText = DEFAULT_SCALE_DOWN_DELAY
    """How long lower demand must last before replicas are removed (the highest recommendation
    of this window is used); default `5m`."""

    max_surge: int = Field(default=2, ge=1, le=INT32_MAX, json_schema_extra=_INT32)
    """Most replicas added by one decision (a scale from zero counts too); default 2."""

    @model_validator(mode="after")
    def _min_at_most_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas must be at most maxReplicas ({self.min_replicas} >"
                f" {self.max_replicas})"
            )
        return self

    @field_validator("class_targets")
    @classmethod
    def _class_target_names_unique(
        cls, targets: tuple[ClassTarget, ...]
    ) -> tuple[ClassTarget, ...]:
        names = [target.name for target in targets]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"classTargets has two entries named {duplicates[0]!r}; names must be unique"
            )
        return targets

    def target_for(self, class_name: str) -> float:
        """The attainment class `class_name` is held to."""
        for target in self.class_targets:
            if target.name == class_name:
                return target.target_attainment
        return self.target_attainment

    @property
    def scale_up_stabilization_s(self) -> float:
        """The scale-up window in seconds (0 when absent)."""
        if self.scale_up_stabilization is None:
            return 0.0
        return durations.parse_duration(self.scale_up_stabilization)

    @property
    def scale_down_delay_s(self) -> float:
        """The scale-down window in seconds."""
        return durations.parse_duration(self.scale_down_delay)


#: The spec-level rule that every class target names a class (it needs both fields, so it sits
#: on the spec).
CLASS_TARGETS_RULE = cel.rule(
    "!has(self.autoscaling) || !has(self.autoscaling.classTargets)"
    " || self.autoscaling.classTargets.all(t, t.name in self.sloClasses.map(c, c.name))",
    message="every autoscaling.classTargets entry must name one of sloClasses",
    field_path=".autoscaling.classTargets",
)


class AutoscalingStatus(ApiModel):
    """The autoscaler's last decision, as `kubectl get -o yaml` shows it."""

    desired_replicas: int = Field(ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """Replicas the autoscaler asked for (written to `spec.replicas`)."""

    recommended_replicas: int = Field(ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """Replicas the demand alone calls for, before stabilization, delay, surge and bounds."""

    reason: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9]*$")
    """Machine-readable cause of the decision, e.g. `DemandAboveCapacity`, `ScaleDownDelayed`."""

    message: str = Field(default="", max_length=4096)
    """The decision in words: demand, capacity, attainment and the bound that applied."""

    predicted_capacity_rps: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Requests per second of the observed class mix one engine serves at the target
    attainment, from the latency profile."""

    demand_rps: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Requests per second that arrived at the gateway over the last window, all classes."""

    start_seconds: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Measured time from an engine pod's creation to its readiness (the latest one)."""

    decided_at: AwareDatetime | None = None
    """When the decision was made."""
