"""The FineTuneJob controller: kopf handlers, kept thin.

- create / update / resume → `reconcile`: check what the API server cannot (a named ModelService
  must exist in the namespace, a ConfigMap or PVC dataset too; otherwise `BaseModelResolved` or
  `DatasetResolved` is False naming the field, with a Warning Event and a retry), place a
  co-served job with the interference predictor (`builders.finetune_placement`: only nodes of
  the ModelService's engines where every resident keeps its slowdown limit; none: `Placed=False`
  and a retry), then create the worker pod (`builders.finetune_worker.worker_pod`) if it is
  missing;
- a timer → `control`: read the worker's `/status`, read the co-served ModelService's per-class
  attainment (the figures the operator's SLO collector already writes into its status), let the
  job's `coserve.ThrottleController` decide the share, send it to the worker's `/control`
  (0 pauses; `spec.paused` pauses whatever the throttle says), evict the pod to its checkpoint
  when the throttle says so, and write the status; an Event marks every change of phase.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
from typing import Any

import httpx
import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from sloserve.api import finetunejob, modelservice
from sloserve.api.finetune_spec import FineTuneJobSpec, WorkerKind
from sloserve.api.finetune_status import FineTuneConditionType
from sloserve.builders import finetune_placement, finetune_worker
from sloserve.builders import labels as label_keys
from sloserve.controllers.context import context_of
from sloserve.finetune import coserve

__all__ = ["FineTuneOptions", "control", "reconcile", "register"]

logger = logging.getLogger("sloserve.operator.finetunejob")

_RESOURCE = (modelservice.GROUP, modelservice.VERSION, finetunejob.PLURAL)
_THROTTLE_KEY = "finetune_throttle"
_PHASE_KEY = "finetune_phase"
_EVICTED_KEY = "finetune_evicted"
_SETTINGS_KEY = "finetune_settings"
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class FineTuneOptions:
    """The controller's settings (the operator's `finetune` settings group; see there)."""

    control_interval_s: float = 5.0
    held_retry_s: float = 30.0
    worker_image: str | None = None
    worker_resources: dict[str, dict[str, str | float]] | None = None
    hold_s: float = 15.0
    ramp_interval_s: float = 5.0
    ramp: float = 0.05
    evict_after_s: float = 120.0


class _HeldError(Exception):
    """A job cannot go on yet: its condition `kind` is False, the message naming the field."""

    def __init__(self, kind: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.condition = _condition(kind, "False", reason, message)


def _settings(memo: kopf.Memo) -> FineTuneOptions:
    found = memo.get(_SETTINGS_KEY)
    return found if isinstance(found, FineTuneOptions) else FineTuneOptions()


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
    """Resolves the base and the dataset, places the worker, and creates its pod when it is
    missing. Idempotent."""
    parsed = FineTuneJobSpec.model_validate(dict(spec))
    space = str(namespace)
    conditions: list[dict[str, Any]] = []
    try:
        conditions.append(await _resolve_base(memo, parsed, space))
        conditions.append(await _resolve_dataset(memo, parsed, space))
        placement, placed = await _place(memo, parsed, space)
        conditions.append(placed)
    except _HeldError as held:
        conditions.append(held.condition)
        patch.status["conditions"] = conditions
        patch.status["phase"] = "Pending"
        kopf.event(body, type="Warning", reason=held.condition["reason"], message=str(held))
        raise kopf.TemporaryError(str(held), delay=_settings(memo).held_retry_s) from held
    await _ensure_pod(memo, body=body, name=name, namespace=space, spec=parsed, placement=placement)
    patch.status["conditions"] = conditions


async def _resolve_base(memo: kopf.Memo, spec: FineTuneJobSpec, namespace: str) -> dict[str, Any]:
    """`BaseModelResolved=True`, or `_HeldError` when the named ModelService does not exist."""
    kind = FineTuneConditionType.BASE_RESOLVED.value
    if spec.model_service is None:
        return _condition(kind, "True", "Resolved", "the base model is known")
    objects = client.CustomObjectsApi(context_of(memo).api)
    try:
        await _call(
            memo, objects.get_namespaced_custom_object,
            modelservice.GROUP, modelservice.VERSION, namespace, modelservice.PLURAL,
            spec.model_service.name,
        )  # fmt: skip
    except ApiException as error:
        if error.status != _NOT_FOUND:
            raise
        raise _HeldError(
            kind,
            "ModelServiceNotFound",
            f"spec.modelService.name: no ModelService {spec.model_service.name!r} in "
            f"namespace {namespace}; create it or name another",
        ) from error
    return _condition(kind, "True", "Resolved", "the base model is known")


async def _resolve_dataset(
    memo: kopf.Memo, spec: FineTuneJobSpec, namespace: str
) -> dict[str, Any]:
    """`DatasetResolved=True`, or `_HeldError` naming the field when the ConfigMap, its key or the
    PVC does not exist, or a real worker is given a hub dataset it cannot fetch."""
    kind = FineTuneConditionType.DATASET_RESOLVED.value
    dataset = spec.dataset
    core = client.CoreV1Api(context_of(memo).api)
    if dataset.config_map is not None:
        source = dataset.config_map
        try:
            found = await _call(memo, core.read_namespaced_config_map, source.name, namespace)
        except ApiException as error:
            if error.status != _NOT_FOUND:
                raise
            raise _HeldError(
                kind,
                "DatasetNotFound",
                f"spec.dataset.configMap.name: no ConfigMap {source.name!r} in namespace "
                f"{namespace}; create it or name another",
            ) from error
        if source.key not in (found.data or {}) and source.key not in (found.binary_data or {}):
            raise _HeldError(
                kind,
                "DatasetNotFound",
                f"spec.dataset.configMap.key: ConfigMap {source.name!r} has no key "
                f"{source.key!r}; name one of its keys",
            )
    elif dataset.pvc is not None:
        claim = dataset.pvc.claim_name
        try:
            await _call(memo, core.read_namespaced_persistent_volume_claim, claim, namespace)
        except ApiException as error:
            if error.status != _NOT_FOUND:
                raise
            raise _HeldError(
                kind,
                "DatasetNotFound",
                f"spec.dataset.pvc.claimName: no PersistentVolumeClaim {claim!r} in "
                f"namespace {namespace}; create it or name another",
            ) from error
    elif spec.worker.kind is WorkerKind.PEFT:
        raise _HeldError(
            kind,
            "HubDatasetNotSupported",
            "spec.dataset.hub: the peft worker does not fetch hub datasets yet; put the "
            "data in a ConfigMap (spec.dataset.configMap) or on a claim (spec.dataset.pvc)",
        )
    return _condition(kind, "True", "Resolved", "the dataset exists")


async def _place(
    memo: kopf.Memo, spec: FineTuneJobSpec, namespace: str
) -> tuple[finetune_placement.WorkerPlacement | None, dict[str, Any]]:
    """The nodes the worker may run on and the `Placed` condition. A co-served job goes only
    where the interference predictor (the scheduler extender's `Assessor`) says every engine
    already there keeps its slowdown limit; `_HeldError` when no node does or no engine has a node
    yet. None (anywhere its affinity allows) without the predictor or without a ModelService."""
    kind = FineTuneConditionType.PLACED.value
    context = context_of(memo)
    runtime = context.placement
    if spec.model_service is None or runtime is None:
        why = "no ModelService to co-serve with" if runtime is not None else "predictor off"
        return None, _condition(kind, "True", "NotPredicted", f"placed by affinity alone ({why})")
    service_name = spec.model_service.name
    objects = client.CustomObjectsApi(context.api)
    service = await _call(
        memo, objects.get_namespaced_custom_object,
        modelservice.GROUP, modelservice.VERSION, namespace, modelservice.PLURAL, service_name,
    )  # fmt: skip
    limit = float(
        ((service.get("spec") or {}).get("placement") or {}).get("maxPredictedSlowdown", 1.25)
    )
    core = client.CoreV1Api(context.api)
    selector = ",".join(f"{k}={v}" for k, v in label_keys.selector_labels(service_name).items())
    pods = await _call(memo, core.list_namespaced_pod, namespace, label_selector=selector)
    node_names = sorted(
        {
            pod.spec.node_name
            for pod in pods.items
            if pod.spec.node_name and pod.metadata.deletion_timestamp is None
        }
    )
    if not node_names:
        raise _HeldError(
            kind,
            "EnginesNotPlaced",
            f"spec.modelService.name: no engine pod of ModelService {service_name!r} is on "
            "a node yet; the worker is placed beside them once they are",
        )
    # one list of the nodes (the operator may list and watch nodes, not get them one by one)
    listed = await _call(memo, core.list_node)
    nodes = [
        context.api.sanitize_for_serialization(node)  # type: ignore[no-untyped-call]
        for node in listed.items
        if node.metadata.name in node_names
    ]
    worker_kind = finetune_placement.worker_kind(spec, runtime.known_kinds)
    candidate = finetune_worker.worker_pod(
        name="placement-candidate",
        namespace=namespace,
        uid="",
        spec=spec,
        image="",
        engine_labels=None,
        share=0.0,
        workload_kind=worker_kind,
    )
    assessor = await runtime.assessor()
    assessments = await assessor.assess(candidate, nodes)
    choice = finetune_placement.choose_nodes(assessments, limit=limit)
    if not choice.nodes:
        raise _HeldError(kind, "NoNodeWithHeadroom", choice.message())
    return choice, _condition(kind, "True", "Predicted", choice.message())


async def _ensure_pod(
    memo: kopf.Memo,
    *,
    body: kopf.Body,
    name: str,
    namespace: str,
    spec: FineTuneJobSpec,
    placement: finetune_placement.WorkerPlacement | None,
) -> None:
    """Creates the worker pod unless it exists; a new worker resumes from the checkpoint."""
    context = context_of(memo)
    options = _settings(memo)
    served = spec.model_service
    runtime = context.placement
    pod = finetune_worker.worker_pod(
        name=name,
        namespace=namespace,
        uid=str(body.metadata.uid),
        spec=spec,
        image=spec.worker.image or options.worker_image or context.defaults.sim_image,
        engine_labels=None if served is None else label_keys.selector_labels(served.name),
        share=0.0 if served is not None else spec.gpu_budget.max_share,
        nodes=None if placement is None else placement.nodes,
        workload_kind=(
            None if runtime is None else finetune_placement.worker_kind(spec, runtime.known_kinds)
        ),
        resources=options.worker_resources,
        image_pull_policy=context.defaults.image_pull_policy,
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
        options = _settings(memo)
        throttle = coserve.ThrottleController(
            coserve.ThrottleSettings(
                max_share=spec.gpu_budget.max_share,
                hold_s=options.hold_s,
                ramp=options.ramp,
                ramp_interval_s=options.ramp_interval_s,
                evict_after_s=options.evict_after_s,
            ),
            now_s=time.monotonic(),
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
    headroom_back = decision is not None and decision.share > 0
    if pod is None and _resolved(body) and (headroom_back or not evicted):
        # a worker that is gone (evicted, and headroom is back; or deleted, its node drained)
        # is made again and resumes from the checkpoint, on a node the predictor still
        # accepts (none: it waits for the next decision)
        try:
            placement, _ = await _place(memo, parsed, space)
        except _HeldError as held:
            logger.info("FineTuneJob %s/%s waits for a worker: %s", space, name, held)
        else:
            await _ensure_pod(
                memo, body=body, name=name, namespace=space, spec=parsed, placement=placement
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


def _resolved(body: kopf.Body) -> bool:
    """Whether the last reconcile let the job run: every condition it writes is True and the
    job has not finished (a timer must not make a worker that the reconcile is holding)."""
    status = body.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
    needed = (
        FineTuneConditionType.BASE_RESOLVED,
        FineTuneConditionType.DATASET_RESOLVED,
        FineTuneConditionType.PLACED,
    )
    return all(conditions.get(kind.value) == "True" for kind in needed)


def register(registry: kopf.OperatorRegistry, *, settings: FineTuneOptions) -> None:
    """Registers the FineTuneJob handlers in `registry`; the throttle decides every
    `settings.control_interval_s` seconds, with `settings`' time constants."""

    async def reconcile_job(*, memo: kopf.Memo, **kwargs: Any) -> None:
        memo[_SETTINGS_KEY] = settings
        await reconcile(memo=memo, **kwargs)

    async def control_job(*, memo: kopf.Memo, **kwargs: Any) -> None:
        memo[_SETTINGS_KEY] = settings
        await control(memo=memo, **kwargs)

    for on_change in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on_change(*_RESOURCE, registry=registry, id="reconcile-finetunejob")(reconcile_job)
    kopf.timer(
        *_RESOURCE,
        registry=registry,
        id="control-finetunejob",
        interval=settings.control_interval_s,
    )(control_job)
