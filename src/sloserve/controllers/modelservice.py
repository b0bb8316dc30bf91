"""The ModelService controller: kopf handlers, kept thin.

- create / update / resume → `reconcile`: apply the Deployment, Service and PodDisruptionBudget the
  whole spec asks for (level-based: the diff is never read), and its InferencePool when the
  operator makes them (`inference_pools`), then write the status;
- a timer → `refresh_status`: recompute the status from the indexes, write it if it changed, write
  new SLO figures, and re-create a child that was deleted behind the operator's back;
- delete → `announce_deletion`: garbage collection removes the children; this only records it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import kopf

from sloserve.api import modelservice as resource
from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import labels as label_keys
from sloserve.builders.errors import SpecError
from sloserve.builders.status import Reason, ReconcileFailure, Targets
from sloserve.controllers import (
    children,
    indexes,
    inference_pools,
    placement,
    reading,
    retries,
    slo_figures,
)
from sloserve.controllers.context import ObjectState, OperatorContext, context_of, state_of
from sloserve.controllers.status_report import write_status

__all__ = ["announce_deletion", "reconcile", "refresh_status", "register"]

logger = logging.getLogger("sloserve.operator.modelservice")

_RESOURCE = (resource.GROUP, resource.VERSION, resource.PLURAL)
_MANAGED = {label_keys.MANAGED_BY: label_keys.MANAGER}
# A child applied this recently may simply not have reached the indexes yet; only a child missing
# for longer was deleted behind the operator's back.
_REPAIR_GRACE_S = 10.0


def _generation(body: kopf.Body) -> int:
    return int(body.metadata.get("generation") or 0)


async def reconcile(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    patch: kopf.Patch,
    retry: int,
    **found: Any,
) -> None:
    """Brings the children to what the whole spec asks for, then writes the status. Idempotent.
    Raises kopf.PermanentError for a spec that cannot be built or that the API server refuses,
    kopf.TemporaryError (with exponential backoff) for API failures that may pass."""
    context = context_of(memo)
    state = state_of(memo)
    generation = _generation(body)
    async with state.lock:
        observed = children.observe(found, (str(namespace), name))
        previous = reading.read_status(body.get("status"))
        targets = Targets.lenient(spec)
        try:
            parsed = reading.read_spec(spec, generation=generation, state=state)
            targets = Targets.of(parsed, profile=context.profiles.check(parsed))
            template = await placement.placement_template(
                context=context,
                owner=body,
                spec=parsed,
                state=state,
                observed=observed,
                found=found,
            )
            outcomes = await children.apply_children(
                context=context,
                owner=body,
                spec=parsed,
                known=observed.versions,
                placement=template,
            )
            pool = await inference_pools.apply_pool(
                context=context, owner=body, spec=parsed, memo=memo, generation=generation
            )
            if pool is not None and pool.created:
                outcomes.append((pool, children.Action.CREATED))
        except Exception as error:
            permanent = isinstance(error, SpecError) or retries.is_permanent(error)
            message = reading.failure_message(error)
            state.failure = ReconcileFailure(
                reason=Reason.INVALID_SPEC if permanent else Reason.APPLY_FAILED, message=message
            )
            write_status(
                body=body,
                patch=patch,
                state=state,
                targets=targets,
                applied_generation=state.applied_generation,
                observed=observed,
                previous=placement.with_recorded(previous, state),
            )
            if permanent:
                logger.error("ModelService %s/%s: %s", namespace, name, message)
                raise kopf.PermanentError(message) from error
            delay = retries.backoff_delay(retry, policy=context.retries)
            logger.warning(
                "ModelService %s/%s: apply failed (attempt %d), retrying in %.1f s: %s",
                namespace,
                name,
                retry + 1,
                delay,
                message,
            )
            raise kopf.TemporaryError(message, delay=delay) from error
        state.failure = None
        state.applied_generation = generation
        state.applied_at = time.monotonic()
        children.report(body, outcomes, generation=generation)
        write_status(
            body=body,
            patch=patch,
            state=state,
            targets=targets,
            applied_generation=generation,
            observed=observed,
            previous=placement.with_recorded(previous, state),
        )


async def _repair_missing(
    *,
    context: OperatorContext,
    state: ObjectState,
    body: kopf.Body,
    spec: ModelServiceSpec,
    observed: children.Observed,
    found: dict[str, Any],
) -> None:
    namespace, name = body.metadata.namespace, body.metadata.name
    missing = ", ".join(observed.missing)
    logger.info("ModelService %s/%s: %s missing, applying again", namespace, name, missing)
    try:
        template = await placement.placement_template(
            context=context, owner=body, spec=spec, state=state, observed=observed, found=found
        )
        outcomes = await children.apply_children(
            context=context, owner=body, spec=spec, known=observed.versions, placement=template
        )
    except Exception as error:
        message = reading.failure_message(error)
        logger.warning("ModelService %s/%s: re-applying failed: %s", namespace, name, message)
        return
    state.applied_at = time.monotonic()
    created = [outcome for outcome in outcomes if outcome[1] is children.Action.CREATED]
    children.report(body, created, generation=_generation(body))


def _new_slo_figures(
    *, context: OperatorContext, state: ObjectState, body: kopf.Body, spec: ModelServiceSpec
) -> dict[str, Any]:
    """The `slo` and `attainment` status patch from SLO figures not yet written for this object,
    else `{}`: each collection is written once, and a failed collection writes nothing."""
    board = context.slo
    if board is None or board.latest is None or board.latest.sequence == state.slo_sequence:
        return {}
    state.slo_sequence = board.latest.sequence
    return slo_figures.slo_changes(
        board.latest,
        cluster=board.cluster,
        namespace=str(body.metadata.namespace),
        name=str(body.metadata.name),
        spec=spec,
    )


async def refresh_status(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    patch: kopf.Patch,
    **found: Any,
) -> None:
    """Recomputes the status from the indexes and writes it if it changed; writes SLO figures
    collected since the last refresh; re-creates children that disappeared after a successful
    reconcile. Costs no request, and next to no work, when nothing it reads changed; does
    nothing before this process has reconciled the object once."""
    context = context_of(memo)
    state = state_of(memo)
    generation = _generation(body)
    async with state.lock:
        if state.applied_generation is None and state.failure is None:
            # The first reconcile of this object (create or resume) has not run yet; it writes
            # the status itself. Writing one before it would only add a request to the queue it
            # waits in when many ModelServices arrive at once.
            return
        if state.applied_generation is not None and state.applied_generation > generation:
            return  # this body predates the last reconcile; the next tick sees a newer one
        raw_status = body.get("status")
        observed = children.observe(found, (str(namespace), name))
        applied = state.applied_generation
        if applied is None and raw_status:
            applied = raw_status.get("observedGeneration")
        try:
            parsed: ModelServiceSpec | None = reading.read_spec(
                spec, generation=generation, state=state
            )
        except SpecError:
            parsed = None
        settled = time.monotonic() - state.applied_at > _REPAIR_GRACE_S
        healthy = applied == generation and state.failure is None
        if parsed is not None and healthy and settled and observed.missing:
            await _repair_missing(
                context=context, state=state, body=body, spec=parsed, observed=observed, found=found
            )
        if parsed is not None and healthy:
            await inference_pools.ensure_pool(
                context=context, owner=body, spec=parsed, memo=memo, generation=generation
            )
        previous = reading.read_status(raw_status)
        if parsed is not None:
            await placement.record_placements(
                context=context,
                owner=body,
                spec=parsed,
                state=state,
                observed=observed,
                previous=previous,
                now=time.monotonic(),
            )
        if parsed is not None:
            patch.status.update(
                _new_slo_figures(context=context, state=state, body=body, spec=parsed)
            )
        inputs = (generation, applied, state.failure, observed, raw_status, len(state.placements))
        if inputs == state.inputs:
            return
        state.inputs = inputs
        write_status(
            body=body,
            patch=patch,
            state=state,
            targets=(
                Targets.of(parsed, profile=context.profiles.check(parsed))
                if parsed is not None
                else Targets.lenient(spec)
            ),
            applied_generation=applied,
            observed=observed,
            previous=placement.with_recorded(previous, state),
        )


async def announce_deletion(*, body: kopf.Body, name: str, namespace: str | None, **_: Any) -> None:
    """Records the deletion; Kubernetes garbage-collects the children through their owner
    references."""
    message = "deleted: its Deployment, Service and PodDisruptionBudget go with it"
    logger.info("ModelService %s/%s %s", namespace, name, message)
    kopf.event(body, type="Normal", reason="Deleting", message=message)


def register(registry: kopf.OperatorRegistry, *, status_interval_s: float) -> None:
    """Registers the ModelService handlers and the indexes they read in `registry`."""
    for on_change in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on_change(*_RESOURCE, registry=registry, id="reconcile")(reconcile)
    kopf.on.delete(*_RESOURCE, registry=registry, id="announce-deletion", optional=True)(
        announce_deletion
    )
    kopf.timer(
        *_RESOURCE,
        registry=registry,
        id="refresh-status",
        interval=status_interval_s,
        initial_delay=status_interval_s,
    )(refresh_status)
    index = kopf.index
    index("apps", "v1", "deployments", registry=registry, id=indexes.DEPLOYMENTS, labels=_MANAGED)(
        indexes.engine_deployments
    )
    index("v1", "services", registry=registry, id=indexes.SERVICES, labels=_MANAGED)(
        indexes.engine_services
    )
    index(
        "policy",
        "v1",
        "poddisruptionbudgets",
        registry=registry,
        id=indexes.DISRUPTION_BUDGETS,
        labels=_MANAGED,
    )(indexes.engine_disruption_budgets)
    index("v1", "pods", registry=registry, id=indexes.PODS, labels=_MANAGED)(indexes.engine_pods)
    index("v1", "nodes", registry=registry, id=indexes.GPU_NODES)(indexes.gpu_nodes)
