"""The FineTuneJob controller: kopf handlers, kept thin.

- create / update / resume → `reconcile`: check the base (a named ModelService must exist in the
  namespace; otherwise `BaseModelResolved=False`, a Warning Event, and a retry), then create
  the worker pod (`builders.finetune_worker.worker_pod`) if it is missing;
- a timer → `control`: read the worker's `/status`, read the co-served ModelService's per-class
  attainment (the figures the operator's SLO collector already writes into its status), let the
  job's `coserve.ThrottleController` decide the share, send it to the worker's `/control`
  (0 pauses; `spec.paused` pauses whatever the throttle says), evict the pod to its checkpoint
  when the throttle says so, and write the status; an Event marks every change of phase.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Any

import httpx
import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from sloserve.api import finetunejob, modelservice
from sloserve.api.finetune_spec import FineTuneJobSpec
from sloserve.builders import finetune_worker
from sloserve.builders import labels as label_keys
from sloserve.controllers.context import context_of
from sloserve.finetune import coserve

__all__ = ["control", "reconcile", "register"]

logger = logging.getLogger("sloserve.operator.finetunejob")

_RESOURCE = (modelservice.GROUP, modelservice.VERSION, finetunejob.PLURAL)
_THROTTLE_KEY = "finetune_throttle"
_PHASE_KEY = "finetune_phase"
_EVICTED_KEY = "finetune_evicted"
#: Attainment the throttle protects: a class below it is at risk.
TARGET_ATTAINMENT = 0.98
_HTTP_TIMEOUT_S = 3.0
_NOT_FOUND = 404
_CONFLICT = 409


def _now_text() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": _now_text(),
    }


async def _call(memo: kopf.Memo, function: Any, *args: Any, **kwargs: Any) -> Any:
    context = context_of(memo)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(context.executor, lambda: function(*args, **kwargs))


async def reconcile(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    patch: kopf.Patch,
    **_: Any,
) -> None:
    """Resolves the base and creates the worker pod when it is missing. Idempotent."""
    context = context_of(memo)
    parsed = FineTuneJobSpec.model_validate(dict(spec))
    space = str(namespace)
    engine_labels = None
    if parsed.model_service is not None:
        objects = client.CustomObjectsApi(context.api)
        try:
            await _call(
                memo, objects.get_namespaced_custom_object,
                modelservice.GROUP, modelservice.VERSION, space, modelservice.PLURAL,
                parsed.model_service.name,
            )  # fmt: skip
        except ApiException as error:
            if error.status != _NOT_FOUND:
                raise
            message = (
                f"spec.modelService.name: no ModelService {parsed.model_service.name!r} in "
                f"namespace {space}; create it or name another"
            )
            patch.status["conditions"] = [
                _condition("BaseModelResolved", "False", "ModelServiceNotFound", message)
            ]
            patch.status["phase"] = "Pending"
            kopf.event(body, type="Warning", reason="ModelServiceNotFound", message=message)
            raise kopf.TemporaryError(message, delay=30) from error
        engine_labels = label_keys.selector_labels(parsed.model_service.name)
    await _ensure_pod(
        memo, body=body, name=name, namespace=space, spec=parsed, labels=engine_labels
    )
    patch.status["conditions"] = [
        _condition("BaseModelResolved", "True", "Resolved", "the base model is known")
    ]


async def _ensure_pod(
    memo: kopf.Memo,
    *,
    body: kopf.Body,
    name: str,
    namespace: str,
    spec: FineTuneJobSpec,
    labels: dict[str, str] | None,
) -> None:
    """Creates the worker pod unless it exists; a new worker resumes from the checkpoint."""
    context = context_of(memo)
    pod = finetune_worker.worker_pod(
        name=name,
        namespace=namespace,
        uid=str(body.metadata.uid),
        spec=spec,
        image=spec.worker.image or context.defaults.sim_image,
        engine_labels=labels,
        share=0.0 if spec.model_service is not None else spec.gpu_budget.max_share,
    )
    core = client.CoreV1Api(context.api)
    try:
        await _call(memo, core.create_namespaced_pod, namespace, pod)
        kopf.event(body, type="Normal", reason="WorkerCreated", message=pod["metadata"]["name"])
    except ApiException as error:
        if error.status != _CONFLICT:
            raise


def _throttle(memo: kopf.Memo, spec: FineTuneJobSpec) -> coserve.ThrottleController:
    throttle = memo.get(_THROTTLE_KEY)
    if not isinstance(throttle, coserve.ThrottleController):
        throttle = coserve.ThrottleController(
            coserve.ThrottleSettings(max_share=spec.gpu_budget.max_share), now_s=time.monotonic()
        )
        memo[_THROTTLE_KEY] = throttle
    return throttle


def _worker_request(url: str, payload: dict[str, Any] | None) -> dict[str, Any] | None:
    try:
        if payload is None:
            response = httpx.get(url, timeout=_HTTP_TIMEOUT_S)
        else:
            response = httpx.post(url, json=payload, timeout=_HTTP_TIMEOUT_S)
        response.raise_for_status()
    except httpx.HTTPError as error:
        logger.info("finetune worker %s not reachable: %s", url, error)
        return None
    document: dict[str, Any] = response.json()
    return document


async def control(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    patch: kopf.Patch,
    **_: Any,
) -> None:
    """Throttles the worker from its neighbours' SLO headroom and writes the status."""
    context = context_of(memo)
    parsed = FineTuneJobSpec.model_validate(dict(spec))
    space = str(namespace)
    core = client.CoreV1Api(context.api)
    pod_name = finetune_worker.worker_pod_name(name)
    try:
        pod = await _call(memo, core.read_namespaced_pod, pod_name, space)
    except ApiException as error:
        if error.status != _NOT_FOUND:
            raise
        pod = None
    ip = None if pod is None else pod.status.pod_ip
    node = None if pod is None else pod.spec.node_name
    base = f"http://{ip}:{finetune_worker.CONTROL_PORT}" if ip else None
    decision = None
    worker = None
    if parsed.model_service is not None:
        objects = client.CustomObjectsApi(context.api)
        try:
            service = await _call(
                memo, objects.get_namespaced_custom_object,
                modelservice.GROUP, modelservice.VERSION, space, modelservice.PLURAL,
                parsed.model_service.name,
            )  # fmt: skip
        except ApiException as error:
            if error.status != _NOT_FOUND:
                raise
            service = {}
        headroom, limiting = coserve.smallest_headroom(
            finetune_worker.class_signals(
                service.get("status"), target_attainment=TARGET_ATTAINMENT
            )
        )
        decision = _throttle(memo, parsed).decide(time.monotonic(), headroom, limiting=limiting)
    if base is not None:
        if parsed.paused:
            payload: dict[str, Any] = {"paused": True}
        elif decision is not None:
            payload = {"share": round(decision.share, 4)}
        else:
            payload = {"paused": False, "share": parsed.gpu_budget.max_share}
        worker = await _call(memo, _worker_request, f"{base}/control", payload)
    evicted = memo.get(_EVICTED_KEY, False)
    served = parsed.model_service
    if pod is None and evicted and served is not None and decision and decision.share > 0:
        # headroom is back after an eviction: a new worker resumes from the checkpoint
        engine_labels = label_keys.selector_labels(served.name)
        await _ensure_pod(
            memo, body=body, name=name, namespace=space, spec=parsed, labels=engine_labels
        )
        memo[_EVICTED_KEY] = False
    if decision is not None and decision.action is coserve.ThrottleAction.EVICT and pod is not None:
        # the worker checkpointed when it was paused; its GPU memory goes back to inference
        await _call(memo, core.delete_namespaced_pod, pod_name, space)
        kopf.event(body, type="Normal", reason="Evicted", message=decision.reason)
        memo[_EVICTED_KEY] = True
    changes = finetune_worker.status_patch(
        worker=worker,
        decision=decision,
        micro_batch=parsed.training.micro_batch_size,
        max_share=parsed.gpu_budget.max_share,
        node=node,
        pod=None if pod is None else pod_name,
        updated_at=_now_text(),
        generation=int(body.metadata.get("generation") or 0),
    )
    for key, value in changes.items():
        patch.status[key] = value
    phase = changes["phase"]
    if memo.get(_PHASE_KEY) != phase:
        reason = "" if decision is None else f": {decision.reason}"
        kopf.event(body, type="Normal", reason=phase, message=f"phase {phase}{reason}")
        memo[_PHASE_KEY] = phase


def register(registry: kopf.OperatorRegistry, *, interval_s: float) -> None:
    """Registers the FineTuneJob handlers in `registry`; the throttle decides every
    `interval_s` seconds."""
    for on_change in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on_change(*_RESOURCE, registry=registry, id="reconcile-finetunejob")(reconcile)
    kopf.timer(*_RESOURCE, registry=registry, id="control-finetunejob", interval=interval_s)(
        control
    )
