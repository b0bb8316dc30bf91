"""Interference-aware placement in the operator: the engine template's placement annotations
(and, without the sloserve scheduler, preferred node affinity), and the record of where each
engine pod landed with its predicted slowdown (`status.placement` and an `EnginePlaced` Event)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from typing import Any

import kopf
from kubernetes import client

from sloserve.api.spec import ModelServiceSpec
from sloserve.api.status import ModelServiceStatus, PodPlacement
from sloserve.builders import engine_pod
from sloserve.builders.errors import SpecError
from sloserve.controllers import children, indexes, retries
from sloserve.controllers.context import ObjectState, OperatorContext, PlacementAttempt
from sloserve.placement import pod_template
from sloserve.placement import status as placement_status
from sloserve.placement.workloads import KIND_ANNOTATION

__all__ = ["placement_template", "record_placements", "with_recorded"]

logger = logging.getLogger("sloserve.operator.placement")

Body = dict[str, Any]


def _annotations(context: OperatorContext, owner: kopf.Body, spec: ModelServiceSpec) -> Body:
    runtime = context.placement
    if runtime is None:
        return {}
    try:
        return pod_template.engine_annotations(
            spec=spec,
            annotations=dict(owner.metadata.annotations),
            known_kinds=runtime.known_kinds,
        )
    except ValueError as error:
        raise SpecError(f"metadata.annotations[{KIND_ANNOTATION}]", str(error)) from error


async def _call(context: OperatorContext, function: Any, *args: Any) -> Body:
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(
        context.executor,
        functools.partial(function, *args, _request_timeout=context.request_timeout_s),
    )
    body: Body = context.api.sanitize_for_serialization(found)  # type: ignore[no-untyped-call]
    return body


async def _nodes(context: OperatorContext, names: Sequence[str]) -> list[Body]:
    core = client.CoreV1Api(context.api)
    return [await _call(context, core.read_node, name) for name in sorted(names)]


async def placement_template(
    *,
    context: OperatorContext,
    owner: kopf.Body,
    spec: ModelServiceSpec,
    state: ObjectState,
    observed: children.Observed,
    found: dict[str, Any],
) -> engine_pod.PlacementTemplate | None:
    """What placement adds to the engine template: the extender's annotations, and when no
    interference-aware scheduler runs, preferred node affinity from predicted slowdowns. The
    affinity is computed only when the Deployment is created or `spec.replicas` changes (a new
    affinity changes the template and restarts the engines) and kept in `state` otherwise.
    Raises SpecError naming the annotation when it declares an unknown workload kind."""
    runtime = context.placement
    if runtime is None:
        return None
    annotations = _annotations(context, owner, spec)
    fallback = (
        spec.placement.interference_aware
        and context.defaults.interference_aware_scheduler is None
        and spec.placement.scheduler_name is None
        and spec.engine.gpu_product is not None
    )
    if not fallback:
        return engine_pod.PlacementTemplate(annotations=annotations)
    if observed.deployment is None or state.affinity_replicas != spec.replicas:
        template = engine_pod.engine_pod_template(
            name=str(owner.metadata.name),
            spec=spec,
            defaults=context.defaults,
            placement=engine_pod.PlacementTemplate(annotations=annotations),
        )
        gpu_nodes = found.get(indexes.GPU_NODES)
        store = gpu_nodes.get(spec.engine.gpu_product) if gpu_nodes is not None else None
        nodes = await _nodes(context, list(store or ()))
        assessor = await runtime.assessor()
        assessments = await assessor.assess(
            {
                "metadata": {"namespace": owner.metadata.namespace, **template["metadata"]},
                "spec": template["spec"],
            },
            nodes,
        )
        state.preferred_affinity = pod_template.preferred_affinity(
            assessments, limit=spec.placement.max_predicted_slowdown
        )
        state.affinity_replicas = spec.replicas
    return engine_pod.PlacementTemplate(
        annotations=annotations, preferred_affinity=state.preferred_affinity
    )


async def record_placements(
    *,
    context: OperatorContext,
    owner: kopf.Body,
    spec: ModelServiceSpec,
    state: ObjectState,
    observed: children.Observed,
    previous: ModelServiceStatus | None,
    now: float,
) -> None:
    """Predicts the slowdown of every engine pod newly seen on a node (no `(pod, node)` entry
    with a prediction yet), keeps the entry in `state.placements` and posts an `EnginePlaced`
    Event. A pod is assessed once when that succeeds; a failed assessment (the API or the
    predictor failing) is logged and tried again at a later status refresh, after a delay that
    doubles with each failure (the operator's retry policy). `now` is the monotonic clock.

    The retry is kept in `state` rather than raised as a kopf.TemporaryError: this runs inside
    the status refresh, which must still write the status when a prediction fails."""
    runtime = context.placement
    if runtime is None or not spec.placement.interference_aware or spec.engine.gpus == 0:
        return
    known = {
        (entry.pod, entry.node)
        for entry in (previous.placement if previous is not None else ())
        if entry.predicted_slowdown is not None
    }
    present = {(pod.name, pod.node) for pod in observed.pods if pod.node is not None}
    # Entries of pods that are gone would only grow the memory of a long-lived ModelService.
    for gone in [key for key in state.placements if key not in present]:
        del state.placements[gone]
    for gone in [key for key in state.placement_attempts if key not in present]:
        del state.placement_attempts[gone]
    namespace = str(owner.metadata.namespace)
    core = client.CoreV1Api(context.api)
    for pod in observed.pods:
        if pod.node is None or pod.terminating:
            continue
        key = (pod.name, pod.node)
        if key in known or key in state.placements:
            continue
        attempt = state.placement_attempts.get(key)
        if attempt is not None and now < attempt.retry_at:
            continue
        try:
            pod_body = await _call(context, core.read_namespaced_pod, pod.name, namespace)
            node_body = await _call(context, core.read_node, pod.node)
            record = await placement_status.record_placement(
                await runtime.assessor(), pod=pod_body, node=node_body
            )
        except Exception as error:
            failures = attempt.failures + 1 if attempt is not None else 1
            delay = retries.backoff_delay(failures - 1, policy=context.retries)
            state.placement_attempts[key] = PlacementAttempt(
                failures=failures, retry_at=now + delay
            )
            logger.warning(
                "ModelService %s/%s: cannot predict the slowdown of %s on %s (attempt %d), "
                "trying again in %.0f s: %s",
                namespace,
                owner.metadata.name,
                pod.name,
                pod.node,
                failures,
                delay,
                error,
            )
            continue
        state.placement_attempts.pop(key, None)
        state.placements[key] = record.entry
        logger.info("ModelService %s/%s: %s", namespace, owner.metadata.name, record.message)
        kopf.event(
            owner, type="Normal", reason=placement_status.EVENT_REASON, message=record.message
        )


def with_recorded(
    previous: ModelServiceStatus | None, state: ObjectState
) -> ModelServiceStatus | None:
    """`previous` with the placements recorded in `state` among its entries, so that the status
    builder (which keeps existing entries of pods still placed) writes them."""
    if not state.placements:
        return previous
    base = previous if previous is not None else ModelServiceStatus()
    entries: dict[tuple[str, str], PodPlacement] = {(p.pod, p.node): p for p in base.placement}
    entries.update(state.placements)
    return base.model_copy(update={"placement": tuple(entries.values())})
