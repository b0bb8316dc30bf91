"""The observed state of a FineTuneJob, written by the operator through the status subresource.

Progress comes from the worker (its completed steps, tokens per second and loss, read from its
control endpoint); the throttle is the operator's own decision, so `kubectl get ftj` shows both
how far a job got and how hard it is being held back for inference.
"""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import AwareDatetime, Field

from sloserve.api import cel
from sloserve.api.fields import INT32_MAX, ApiModel
from sloserve.api.status import Condition

__all__ = [
    "FineTuneConditionType",
    "FineTuneJobStatus",
    "FineTunePhase",
    "Progress",
    "Throttle",
]

_INT32: cel.JsonDict = {"format": "int32"}


class FineTunePhase(enum.StrEnum):
    """Where a job is in its life."""

    PENDING = "Pending"
    RUNNING = "Running"
    THROTTLED = "Throttled"
    PAUSED = "Paused"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class FineTuneConditionType(enum.StrEnum):
    """The condition types the operator reports on a FineTuneJob."""

    BASE_RESOLVED = "BaseModelResolved"
    DATASET_RESOLVED = "DatasetResolved"
    PLACED = "Placed"
    RUNNING = "Running"
    THROTTLED = "Throttled"
    COMPLETE = "Complete"


class Progress(ApiModel):
    """How far training got."""

    completed_steps: int = Field(default=0, ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """Optimizer steps completed (checkpointed or not)."""

    total_steps: int | None = Field(default=None, ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """Steps the job runs in all, when known."""

    checkpoint_step: int = Field(default=0, ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """Step of the last checkpoint: a resumed job starts here."""

    tokens_per_second: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Training tokens per second over the worker's recent steps."""

    loss: float | None = Field(default=None, allow_inf_nan=False)
    """Training loss of the last step."""

    updated_at: AwareDatetime | None = None
    """When the worker was last read."""


class Throttle(ApiModel):
    """The operator's current hold on the job, decided from its neighbours' SLO headroom."""

    share: float = Field(ge=0, le=1, allow_inf_nan=False)
    """Share of GPU time the job may use now (its duty cycle); 0 is paused."""

    micro_batch_size: int = Field(ge=0, le=1024, json_schema_extra=_INT32)
    """Micro-batch the worker runs now."""

    reason: str = Field(default="", max_length=1024)
    """Why, in words: the class whose headroom set it, or `headroom` when none is at risk."""

    headroom: float | None = Field(default=None, allow_inf_nan=False)
    """The smallest SLO headroom among the neighbouring inference classes (1 = no load, 0 = at
    the objective, below 0 = missing it)."""


class FineTuneJobStatus(ApiModel):
    """Observed state of a FineTuneJob."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The `metadata.generation` the operator last acted on."""

    phase: FineTunePhase = FineTunePhase.PENDING
    """`Pending`, `Running`, `Throttled`, `Paused`, `Succeeded` or `Failed`."""

    conditions: Annotated[tuple[Condition, ...], Field(json_schema_extra=cel.list_map("type"))] = ()
    """`BaseModelResolved`, `DatasetResolved`, `Placed`, `Running`, `Throttled` and
    `Complete`, one entry per type."""

    pod: str | None = Field(default=None, max_length=253)
    """The worker pod."""

    node: str | None = Field(default=None, max_length=253)
    """The node the worker runs on."""

    progress: Progress = Field(default_factory=Progress)
    """Steps, tokens per second, loss."""

    throttle: Throttle | None = None
    """The operator's current throttle."""

    steps: str | None = Field(default=None, max_length=64)
    """`completed/total` in one word, for `kubectl get`."""
