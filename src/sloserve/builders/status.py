"""A ModelService's status, computed from what the operator observes of its engines.

Pure: the clock is an argument. The operator owns `observedGeneration`, `replicas`,
`readyReplicas`, `selector`, `placement` and `conditions`; the SLO figures are written by others
and never touched here.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sloserve.api.spec import ModelServiceSpec
from sloserve.api.status import (
    Condition,
    ConditionStatus,
    ConditionType,
    ModelServiceStatus,
    PodPlacement,
)
from sloserve.builders import engine_pod, labels
from sloserve.builders.observed import DeploymentState, PodState

__all__ = [
    "OWNED_FIELDS",
    "Observation",
    "Reason",
    "ReconcileFailure",
    "Targets",
    "build_status",
    "status_patch",
]

#: The status fields the operator writes; everything else in status belongs to others.
OWNED_FIELDS = (
    "observed_generation",
    "replicas",
    "ready_replicas",
    "selector",
    "placement",
    "conditions",
)


class Reason(enum.StrEnum):
    """Reasons of the conditions the operator sets."""

    ENGINES_READY = "EnginesReady"
    ENGINES_STARTING = "EnginesStarting"
    SCALED_TO_ZERO = "ScaledToZero"
    RECONCILING = "Reconciling"
    ROLLING_OUT = "RollingOut"
    ROLLOUT_COMPLETE = "RolloutComplete"
    AS_EXPECTED = "AsExpected"
    INVALID_SPEC = "InvalidSpec"
    APPLY_FAILED = "ApplyFailed"
    NO_NODE_WITH_GPU_PRODUCT = "NoNodeWithGPUProduct"
    IMAGE_PULL_FAILING = "ImagePullFailing"
    CRASH_LOOPING = "CrashLooping"
    CONTAINER_CONFIG_FAILING = "ContainerConfigFailing"
    UNSCHEDULABLE = "Unschedulable"
    PODS_NOT_CREATED = "PodsNotCreated"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Targets:
    """What the status is measured against: the replicas and GPU product the spec asks for."""

    replicas: int
    gpu_product: str | None

    @classmethod
    def of(cls, spec: ModelServiceSpec) -> Targets:
        return cls(replicas=spec.replicas, gpu_product=spec.engine.gpu_product)

    @classmethod
    def lenient(cls, spec: Mapping[str, Any]) -> Targets:
        """Read from a raw spec that did not validate, keeping whatever is well-formed, so that
        an invalid spec still gets a status that says so."""
        replicas = spec.get("replicas", 1)
        engine = spec.get("engine")
        product = engine.get("gpuProduct") if isinstance(engine, Mapping) else None
        return cls(
            replicas=replicas if isinstance(replicas, int) and replicas >= 0 else 0,
            gpu_product=product if isinstance(product, str) else None,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReconcileFailure:
    """Why the last attempt to apply the children failed: `InvalidSpec` (the spec must change)
    or `ApplyFailed` (the API refused or failed; retried with backoff)."""

    reason: Reason
    message: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observation:
    """Everything the status is computed from.

    Attributes:
        generation: the ModelService's `metadata.generation`.
        applied_generation: the generation whose children were last applied successfully.
        failure: why the last apply failed, if it did.
        deployment: the engines' Deployment, if it exists.
        pods: the engine pods that exist.
        gpu_products: every `nvidia.com/gpu.product` some node offers.
        previous: the status as last read, for transition times and others' placement data.
    """

    generation: int
    applied_generation: int | None
    failure: ReconcileFailure | None
    deployment: DeploymentState | None
    pods: tuple[PodState, ...]
    gpu_products: frozenset[str]
    previous: ModelServiceStatus | None


@dataclasses.dataclass(frozen=True)
class _Problem:
    reason: Reason
    message: str


def _first_pod(pods: list[PodState], describe: str) -> str:
    first = pods[0]
    more = f" (and {len(pods) - 1} more)" if len(pods) > 1 else ""
    return f"pod {first.name}{more} {describe}"


def _pod_problems(pods: tuple[PodState, ...], *, gpu_product_missing: bool) -> list[_Problem]:
    live = [pod for pod in pods if not pod.terminating]
    problems: list[_Problem] = []
    pulling = [pod for pod in live if pod.image_pull_failing]
    if pulling:
        pod = pulling[0]
        detail = f"{pod.waiting_reason}: {pod.waiting_message}".rstrip(": ")
        problems.append(
            _Problem(
                Reason.IMAGE_PULL_FAILING,
                _first_pod(
                    pulling,
                    f"cannot pull the engine image ({detail}); check "
                    "spec.engine.image and the registry credentials",
                ),
            )
        )
    crashing = [pod for pod in live if pod.crash_looping]
    if crashing:
        pod = crashing[0]
        last = f", last {pod.last_exit}" if pod.last_exit else ""
        said = f"; the engine said: {pod.last_error}" if pod.last_error else ""
        problems.append(
            _Problem(
                Reason.CRASH_LOOPING,
                _first_pod(
                    crashing,
                    f"is crash-looping ({pod.restarts} restarts{last}){said}; see "
                    f"`kubectl logs {pod.name} --previous`",
                ),
            )
        )
    misconfigured = [pod for pod in live if pod.config_failing]
    if misconfigured:
        pod = misconfigured[0]
        problems.append(
            _Problem(
                Reason.CONTAINER_CONFIG_FAILING,
                _first_pod(
                    misconfigured,
                    f"cannot start its engine ({pod.waiting_reason}: {pod.waiting_message})",
                ),
            )
        )
    unschedulable = [pod for pod in live if pod.unschedulable_message is not None]
    # A missing GPU product already explains why nothing schedules.
    if unschedulable and not gpu_product_missing:
        pod = unschedulable[0]
        problems.append(
            _Problem(
                Reason.UNSCHEDULABLE,
                _first_pod(unschedulable, f"cannot be scheduled: {pod.unschedulable_message}"),
            )
        )
    return problems


def _problems(targets: Targets, observation: Observation) -> list[_Problem]:
    problems: list[_Problem] = []
    if observation.failure is not None:
        problems.append(_Problem(observation.failure.reason, observation.failure.message))
    product = targets.gpu_product
    gpu_product_missing = product is not None and product not in observation.gpu_products
    if gpu_product_missing:
        offered = ", ".join(sorted(observation.gpu_products)) or "none"
        problems.append(
            _Problem(
                Reason.NO_NODE_WITH_GPU_PRODUCT,
                f"no node has the label {engine_pod.GPU_PRODUCT_LABEL}={product} (GPU products "
                f"on nodes: {offered}); add such a node or change spec.engine.gpuProduct",
            )
        )
    problems += _pod_problems(observation.pods, gpu_product_missing=gpu_product_missing)
    deployment = observation.deployment
    if deployment is not None and deployment.replica_failure_message is not None:
        problems.append(
            _Problem(
                Reason.PODS_NOT_CREATED,
                f"engine pods cannot be created: {deployment.replica_failure_message}",
            )
        )
    if deployment is not None and deployment.stalled_message is not None:
        problems.append(_Problem(Reason.PROGRESS_DEADLINE_EXCEEDED, deployment.stalled_message))
    return problems


def _ready(
    targets: Targets, observation: Observation, problems: list[_Problem]
) -> tuple[ConditionStatus, Reason, str]:
    desired = targets.replicas
    deployment = observation.deployment
    ready = deployment.ready_replicas if deployment is not None else 0
    counted = f"{ready} of {desired} engines ready"
    if desired == 0:
        return ConditionStatus.FALSE, Reason.SCALED_TO_ZERO, "spec.replicas is 0"
    if deployment is not None and ready >= desired:
        return ConditionStatus.TRUE, Reason.ENGINES_READY, counted
    if problems:
        return ConditionStatus.FALSE, problems[0].reason, f"{counted}: {problems[0].message}"
    if deployment is None:
        return (
            ConditionStatus.FALSE,
            Reason.RECONCILING,
            "the engines' Deployment does not exist yet",
        )
    return ConditionStatus.FALSE, Reason.ENGINES_STARTING, counted


def _progressing(targets: Targets, observation: Observation) -> tuple[ConditionStatus, Reason, str]:
    failure = observation.failure
    if failure is not None and failure.reason is Reason.INVALID_SPEC:
        return ConditionStatus.FALSE, failure.reason, failure.message
    if observation.applied_generation != observation.generation:
        return (
            ConditionStatus.TRUE,
            Reason.RECONCILING,
            f"applying generation {observation.generation} to the engines",
        )
    deployment = observation.deployment
    if deployment is None:
        return ConditionStatus.TRUE, Reason.RECONCILING, "waiting for the engines' Deployment"
    if deployment.stalled_message is not None:
        return (
            ConditionStatus.FALSE,
            Reason.PROGRESS_DEADLINE_EXCEEDED,
            deployment.stalled_message,
        )
    if not deployment.rollout_settled:
        return (
            ConditionStatus.TRUE,
            Reason.ROLLING_OUT,
            f"{deployment.updated_replicas} of {targets.replicas} engines updated, "
            f"{deployment.available_replicas} available, {deployment.replicas} pods in total",
        )
    return (
        ConditionStatus.FALSE,
        Reason.ROLLOUT_COMPLETE,
        f"every engine runs generation {observation.generation}",
    )


def _condition(
    condition_type: ConditionType,
    verdict: tuple[ConditionStatus, Reason, str],
    *,
    observation: Observation,
    now: datetime,
) -> Condition:
    status, reason, message = verdict
    previous = observation.previous.condition(condition_type) if observation.previous else None
    since = previous.last_transition_time if previous and previous.status is status else now
    return Condition(
        type=condition_type.value,
        status=status,
        reason=reason.value,
        message=message,
        last_transition_time=since,
        observed_generation=observation.generation,
    )


def _placement(observation: Observation) -> tuple[PodPlacement, ...]:
    known: dict[tuple[str, str], PodPlacement] = {}
    if observation.previous is not None:
        known = {(p.pod, p.node): p for p in observation.previous.placement}
    placed = sorted(
        (pod for pod in observation.pods if pod.node is not None and not pod.terminating),
        key=lambda pod: pod.name,
    )
    return tuple(
        known.get((pod.name, pod.node), PodPlacement(pod=pod.name, node=pod.node))
        for pod in placed
        if pod.node is not None
    )


def build_status(
    *, name: str, targets: Targets, observation: Observation, now: datetime
) -> ModelServiceStatus:
    """The operator's part of the status of ModelService `name`: counts from the Deployment,
    where each engine runs, and the Ready, Progressing and Degraded conditions. A condition
    keeps its `lastTransitionTime` while its status stays the same. `now` must be aware."""
    now = now.replace(microsecond=0)
    problems = _problems(targets, observation)
    degraded = (
        (ConditionStatus.TRUE, problems[0].reason, problems[0].message)
        if problems
        else (ConditionStatus.FALSE, Reason.AS_EXPECTED, "")
    )
    deployment = observation.deployment
    return ModelServiceStatus(
        observed_generation=observation.applied_generation,
        replicas=deployment.replicas if deployment is not None else 0,
        ready_replicas=deployment.ready_replicas if deployment is not None else 0,
        selector=labels.selector_text(labels.selector_labels(name)),
        placement=_placement(observation),
        conditions=(
            _condition(
                ConditionType.READY,
                _ready(targets, observation, problems),
                observation=observation,
                now=now,
            ),
            _condition(
                ConditionType.PROGRESSING,
                _progressing(targets, observation),
                observation=observation,
                now=now,
            ),
            _condition(ConditionType.DEGRADED, degraded, observation=observation, now=now),
        ),
    )


def status_patch(new: ModelServiceStatus, previous: ModelServiceStatus | None) -> dict[str, Any]:
    """The merge patch of `status` that writes the operator's fields of `new`, or `{}` when
    `previous` already holds them (so that an unchanged status costs no request)."""
    if previous is not None and all(
        getattr(new, field) == getattr(previous, field) for field in OWNED_FIELDS
    ):
        return {}
    # Unset values are left out rather than sent as null, which a merge patch reads as "delete":
    # an unapplied generation is simply not written, and lists are replaced whole anyway.
    return new.model_dump(mode="json", by_alias=True, include=set(OWNED_FIELDS), exclude_none=True)
