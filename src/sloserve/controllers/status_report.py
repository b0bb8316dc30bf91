"""Writing a ModelService's status through kopf's patch, and an Event for every condition that
changed."""

from __future__ import annotations

import datetime
import logging

import kopf

from sloserve.api.status import ModelServiceStatus
from sloserve.builders import status as status_builder
from sloserve.builders.status import Targets
from sloserve.builders.transitions import condition_events
from sloserve.controllers import children
from sloserve.controllers.context import ObjectState

__all__ = ["write_status"]

logger = logging.getLogger("sloserve.operator.status")


def write_status(
    *,
    body: kopf.Body,
    patch: kopf.Patch,
    state: ObjectState,
    targets: Targets,
    applied_generation: int | None,
    observed: children.Observed,
    previous: ModelServiceStatus | None,
) -> None:
    """Computes the status from what is observed and puts the changed part into `patch`
    (nothing when unchanged); posts an Event and logs a line per condition transition."""
    new = status_builder.build_status(
        name=str(body.metadata.name),
        targets=targets,
        observation=status_builder.Observation(
            generation=int(body.metadata.get("generation") or 0),
            applied_generation=applied_generation,
            failure=state.failure,
            deployment=observed.deployment,
            pods=observed.pods,
            gpu_products=observed.gpu_products,
            previous=previous,
        ),
        now=datetime.datetime.now(datetime.UTC),
    )
    changes = status_builder.status_patch(new, previous)
    if changes:
        patch.status.update(changes)
    for event in condition_events(state.reported or previous, new):
        logger.info(
            "ModelService %s/%s: %s: %s",
            body.metadata.namespace,
            body.metadata.name,
            event.reason,
            event.message,
        )
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    state.reported = new
