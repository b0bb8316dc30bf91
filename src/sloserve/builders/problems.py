"""What is wrong with a ModelService's engines: each problem a Degraded reason and a message
that names the pod or field at fault and what to do."""

from __future__ import annotations

import dataclasses

from sloserve.builders import engine_pod
from sloserve.builders.observed import PodState
from sloserve.builders.profile_check import ProfileCheck
from sloserve.builders.status_inputs import Observation, Reason, Targets

__all__ = ["Problem", "problems", "profile_unknown_message"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """Something wrong with a ModelService's engines, as a Degraded reason and message."""

    reason: Reason
    message: str


def _first_pod(pods: list[PodState], describe: str) -> str:
    first = pods[0]
    more = f" (and {len(pods) - 1} more)" if len(pods) > 1 else ""
    return f"pod {first.name}{more} {describe}"


def _refused_args_problem(refusing: list[PodState], args: tuple[str, ...]) -> Problem:
    pod = refusing[0]
    refused = pod.refused_arguments
    assert refused is not None
    plural = "s" if pod.restarts != 1 else ""
    restarts = f", {pod.restarts} restart{plural}" if pod.restarts else ""
    fix = (
        "remove or correct it in spec.engine.args"
        if not refused.outside(args)
        else "it is not in spec.engine.args: check the engine image and spec.engine.kind"
    )
    return Problem(
        Reason.ENGINE_ARGS_REJECTED,
        _first_pod(
            refusing,
            f"exited because its engine refused its command line ({refused.describe(args)}"
            f"{restarts}); the engine said: {pod.last_error}; {fix}, restarting will not help",
        ),
    )


def _pod_problems(
    pods: tuple[PodState, ...], *, gpu_product_missing: bool, engine_args: tuple[str, ...]
) -> list[Problem]:
    live = [pod for pod in pods if not pod.terminating]
    problems: list[Problem] = []
    # A refused command line is reported at the first exit: every restart fails the same way.
    refusing = [pod for pod in live if pod.refused_arguments is not None]
    if refusing:
        problems.append(_refused_args_problem(refusing, engine_args))
    pulling = [pod for pod in live if pod.image_pull_failing]
    if pulling:
        pod = pulling[0]
        detail = f"{pod.waiting_reason}: {pod.waiting_message}".rstrip(": ")
        problems.append(
            Problem(
                Reason.IMAGE_PULL_FAILING,
                _first_pod(
                    pulling,
                    f"cannot pull the engine image ({detail}); check "
                    "spec.engine.image and the registry credentials",
                ),
            )
        )
    crashing = [pod for pod in live if pod.crash_looping and pod.refused_arguments is None]
    if crashing:
        pod = crashing[0]
        last = f", last {pod.last_exit}" if pod.last_exit else ""
        said = f"; the engine said: {pod.last_error}" if pod.last_error else ""
        problems.append(
            Problem(
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
            Problem(
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
            Problem(
                Reason.UNSCHEDULABLE,
                _first_pod(unschedulable, f"cannot be scheduled: {pod.unschedulable_message}"),
            )
        )
    return problems


def _profile_problems(targets: Targets) -> list[Problem]:
    check = targets.profile
    if check is None or check.resolved:
        return []
    return [Problem(Reason.PROFILE_UNKNOWN, profile_unknown_message(check))]


def profile_unknown_message(check: ProfileCheck) -> str:
    """Why a profile did not resolve, with the names that do."""
    return (
        f"no latency profile named {check.profile!r}, so the gateway cannot predict TTFT or "
        f"TPOT for this model and answers its requests with 503; profiles: "
        f"{', '.join(check.known) or 'none'}; set spec.engine.profile to one of them"
    )


def problems(targets: Targets, observation: Observation) -> list[Problem]:
    """Everything wrong, most fundamental first: a failed apply, an unknown profile, a GPU
    product no node has, pods that cannot pull, crash, start or be scheduled, a ReplicaSet
    that cannot create pods, a stuck rollout. An engine whose parser refused its arguments is
    reported as that (`EngineArgsRejected`), not as crash-looping."""
    found: list[Problem] = []
    if observation.failure is not None:
        found.append(Problem(observation.failure.reason, observation.failure.message))
    found += _profile_problems(targets)
    product = targets.gpu_product
    gpu_product_missing = product is not None and product not in observation.gpu_products
    if gpu_product_missing:
        offered = ", ".join(sorted(observation.gpu_products)) or "none"
        found.append(
            Problem(
                Reason.NO_NODE_WITH_GPU_PRODUCT,
                f"no node has the label {engine_pod.GPU_PRODUCT_LABEL}={product} (GPU products "
                f"on nodes: {offered}); add such a node or change spec.engine.gpuProduct",
            )
        )
    found += _pod_problems(
        observation.pods,
        gpu_product_missing=gpu_product_missing,
        engine_args=targets.engine_args,
    )
    deployment = observation.deployment
    if deployment is not None and deployment.replica_failure_message is not None:
        found.append(
            Problem(
                Reason.PODS_NOT_CREATED,
                f"engine pods cannot be created: {deployment.replica_failure_message}",
            )
        )
    if deployment is not None and deployment.stalled_message is not None:
        found.append(Problem(Reason.PROGRESS_DEADLINE_EXCEEDED, deployment.stalled_message))
    return found
