"""The autoscaler: a kopf timer on every ModelService that sets `spec.autoscaling`, kept thin.

Each tick reads the latest SLO figures (the collector's `FigureBoard`), this ModelService's
engine pods (their own index: creation and readiness times, deletion), asks the
`sloserve.autoscaling.recommender` kept per object for the replicas, writes them through the
scale subresource when they change (so the reconcile that follows resizes the Deployment, as an
HPA would), records the change as an Event, and writes the decision in `status.autoscaling`.

Drain: pods being deleted still finish their streams (their preStop drain), and the recommender
removes no more replicas while any does. The PodDisruptionBudget bounds evictions, not a
Deployment's scale-down; a scale-down removes pods one decision at a time and never below
`minReplicas`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes import client

from sloserve.api import modelservice as resource
from sloserve.api.spec import ModelServiceSpec
from sloserve.autoscaling import capacity, recommender
from sloserve.builders import autoscaling as plan
from sloserve.builders import labels as label_keys
from sloserve.builders.errors import SpecError
from sloserve.controllers import indexes, reading
from sloserve.controllers.context import OperatorContext, context_of, state_of
from sloserve.report import status as slo_writer

__all__ = ["POD_TIMES", "autoscale", "register"]

logger = logging.getLogger("sloserve.operator.autoscaling")

_RESOURCE = (resource.GROUP, resource.VERSION, resource.PLURAL)
_MANAGED = {label_keys.MANAGED_BY: label_keys.MANAGER}

#: The index of engine pods' start and deletion times, by owning ModelService.
POD_TIMES = "autoscaling_pod_times"
_STATE_KEY = "autoscaler"


@dataclasses.dataclass
class _Autoscaler:
    """One ModelService's recommender and what it was built from."""

    settings: recommender.ScalingSettings
    recommender: recommender.Recommender


def pod_times(
    *, namespace: str | None, labels: Mapping[str, str], body: Mapping[str, Any], **_: Any
) -> dict[indexes.OwnerKey, plan.PodTimes]:
    """Index function: an engine pod's times under its ModelService's key."""
    owner = labels.get(label_keys.MODEL_SERVICE)
    if namespace is None or not owner:
        return {}
    return {(namespace, owner): plan.PodTimes.from_body(body)}


def _capacity_function(
    context: OperatorContext, spec: ModelServiceSpec
) -> recommender.CapacityFunction:
    inputs = context.profiles.capacity_inputs(spec)
    if inputs is None:
        # An unresolved profile is reported by the ProfileResolved condition; without a latency
        # model no capacity is known, which the recommender reports and then keeps the replicas.
        return lambda _: 0.0
    latency, limits = inputs

    def capacity_of(demand: Any) -> float:
        return capacity.engine_capacity_rps(demand, latency=latency, limits=limits)

    return capacity_of


def _autoscaler(
    memo: kopf.Memo, context: OperatorContext, spec: ModelServiceSpec, start_time_s: float
) -> _Autoscaler:
    assert spec.autoscaling is not None
    settings = plan.scaling_settings(spec.autoscaling, start_time_s=start_time_s)
    known = memo.get(_STATE_KEY)
    if isinstance(known, _Autoscaler):
        if known.settings == settings:
            return known
        # New bounds or timing (or a new measured start time): keep the learned history.
        known.recommender.settings = settings
        known.settings = settings
        return known
    built = _Autoscaler(
        settings=settings,
        recommender=recommender.Recommender(
            settings, capacity_of=_capacity_function(context, spec)
        ),
    )
    memo[_STATE_KEY] = built
    return built


async def _write_scale(
    context: OperatorContext, *, namespace: str, name: str, replicas: int
) -> None:
    api = client.CustomObjectsApi(context.api)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(
        context.executor,
        lambda: api.patch_namespaced_custom_object_scale(
            resource.GROUP,
            resource.VERSION,
            namespace,
            resource.PLURAL,
            name,
            {"spec": {"replicas": replicas}},
            _request_timeout=context.request_timeout_s,
        ),
    )


async def autoscale(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    patch: kopf.Patch,
    **found: Any,
) -> None:
    """One decision for this ModelService: scale, Event and `status.autoscaling`. Does nothing
    for a spec without autoscaling or one that does not parse (the reconcile reports that)."""
    context = context_of(memo)
    state = state_of(memo)
    generation = int(body.metadata.get("generation") or 0)
    try:
        parsed = reading.read_spec(spec, generation=generation, state=state)
    except SpecError:
        return
    if parsed.autoscaling is None:
        memo.pop(_STATE_KEY, None)
        return
    key = (str(namespace), name)
    store = found.get(POD_TIMES)
    pods = list(store.get(key, ())) if store is not None else []
    measured = plan.measured_start_time_s(pods)
    start_time_s = measured if measured is not None else plan.DEFAULT_START_TIME_S
    scaler = _autoscaler(memo, context, parsed, start_time_s)
    service = None
    window_s = 0.0
    board = context.slo
    if board is not None and board.latest is not None:
        report = board.latest.report
        window_s = report.window.seconds
        service = slo_writer.find_modelservice(
            report,
            namespace=str(namespace),
            name=name,
            model_id=parsed.model,
            cluster=board.cluster,
        )
    decision = scaler.recommender.decide(
        plan.observation(
            service,
            spec=parsed,
            window_s=window_s,
            now_s=time.monotonic(),
            current_replicas=parsed.replicas,
            pods=pods,
        )
    )
    change = plan.decision_event(decision, replicas=parsed.replicas)
    if change is not None:
        try:
            await _write_scale(
                context, namespace=str(namespace), name=name, replicas=decision.desired_replicas
            )
        except Exception as error:  # the next tick decides again
            message = reading.failure_message(error)
            logger.warning("ModelService %s/%s: scaling failed: %s", namespace, name, message)
            kopf.event(body, type="Warning", reason="ScaleFailed", message=message)
            return
        reason, message = change
        logger.info("ModelService %s/%s: %s", namespace, name, message)
        kopf.event(body, type="Normal", reason=reason, message=message)
    patch.status.update(
        plan.status_patch(decision, decided_at=datetime.now(UTC), start_time_s=measured)
    )


def register(registry: kopf.OperatorRegistry, *, interval_s: float) -> None:
    """Registers the autoscaler's timer and the pod index it reads in `registry`."""
    kopf.timer(
        *_RESOURCE,
        registry=registry,
        id="autoscale",
        interval=interval_s,
        initial_delay=interval_s,
        when=lambda spec, **_: bool(spec.get("autoscaling")),
    )(autoscale)
    kopf.index("v1", "pods", registry=registry, id=POD_TIMES, labels=_MANAGED)(pod_times)
