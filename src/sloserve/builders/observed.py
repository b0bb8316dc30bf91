"""What the operator sees of a ModelService's engines: small records read from the raw objects
its watches deliver (Deployments, Pods, Services, PodDisruptionBudgets, Nodes).

Pure: reading a record from a body does no I/O. Missing fields read as their Kubernetes
defaults, since the API server omits zero values.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from sloserve.builders import engine_pod
from sloserve.builders.refused_args import RefusedArguments, refused_arguments

__all__ = [
    "ERROR_LINE_MAX_CHARS",
    "ChildVersion",
    "DeploymentState",
    "PodState",
    "engine_error_line",
    "gpu_product_of",
]

Body = Mapping[str, Any]

_IMAGE_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
_CONFIG_REASONS = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)


def _mapping(value: object) -> Body:
    return value if isinstance(value, Mapping) else {}


def _conditions(status: Body) -> dict[str, Body]:
    found: dict[str, Body] = {}
    for condition in status.get("conditions") or ():
        condition = _mapping(condition)
        if isinstance(condition.get("type"), str):
            found[condition["type"]] = condition
    return found


# Failed restarts after which a not-ready engine counts as crash-looping, back-off or not.
CRASH_LOOP_RESTARTS = 3
# The longest engine error line kept for a condition message (a status is read in a terminal).
ERROR_LINE_MAX_CHARS = 300
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERROR_WORD = re.compile(r"error|exception|fatal", re.IGNORECASE)


def engine_error_line(termination_message: str) -> str | None:
    """The line that says why an engine exited, from its container's termination message.

    The engine container's `terminationMessagePolicy: FallbackToLogsOnError` makes the kubelet
    keep the end of the log of a failed container there. Engines end a failure with the reason:
    argparse's `... error: unrecognized arguments: --x`, a traceback's `ValueError: ...`, so the
    last line that names an error is taken, else the last line; None for an empty message.
    """
    lines = [_ANSI_ESCAPE.sub("", line).strip() for line in termination_message.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return None
    naming_an_error = [line for line in lines if _ERROR_WORD.search(line)]
    line = (naming_an_error or lines)[-1]
    if len(line) > ERROR_LINE_MAX_CHARS:
        line = line[: ERROR_LINE_MAX_CHARS - 1] + "…"
    return line


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChildVersion:
    """Which version of a child object exists: enough to tell whether applying changed it."""

    resource_version: str
    generation: int | None

    @classmethod
    def from_body(cls, body: Body) -> ChildVersion:
        meta = _mapping(body.get("metadata"))
        generation = meta.get("generation")
        return cls(
            resource_version=str(meta.get("resourceVersion", "")),
            generation=generation if isinstance(generation, int) else None,
        )

    def differs_from(self, other: ChildVersion) -> bool:
        """Whether the desired state changed between `other` and this version. Kinds with a
        generation bump it only when their spec changes (not on status updates), so it is
        compared where present; otherwise any new resource version counts."""
        if self.generation is not None and other.generation is not None:
            return self.generation != other.generation
        return self.resource_version != other.resource_version


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeploymentState:
    """The engines' Deployment as its controller last reported it."""

    version: ChildVersion
    observed_generation: int
    desired: int
    replicas: int
    ready_replicas: int
    updated_replicas: int
    available_replicas: int
    stalled_message: str | None
    """Set when the rollout exceeded its progress deadline."""
    replica_failure_message: str | None
    """Set when the ReplicaSet cannot create pods (quota, admission, permissions)."""

    @classmethod
    def from_body(cls, body: Body) -> DeploymentState:
        spec = _mapping(body.get("spec"))
        status = _mapping(body.get("status"))
        conditions = _conditions(status)
        progressing = conditions.get("Progressing", {})
        stalled = progressing.get("reason") == "ProgressDeadlineExceeded"
        failure = conditions.get("ReplicaFailure", {})
        return cls(
            version=ChildVersion.from_body(body),
            observed_generation=int(status.get("observedGeneration", 0)),
            desired=int(spec.get("replicas", 1)),
            replicas=int(status.get("replicas", 0)),
            ready_replicas=int(status.get("readyReplicas", 0)),
            updated_replicas=int(status.get("updatedReplicas", 0)),
            available_replicas=int(status.get("availableReplicas", 0)),
            stalled_message=str(progressing.get("message", "")) if stalled else None,
            replica_failure_message=(
                str(failure.get("message", "")) if failure.get("status") == "True" else None
            ),
        )

    @property
    def rollout_settled(self) -> bool:
        """Whether the Deployment controller has caught up with the spec: every pod runs the
        current template, no old pod remains, and all desired pods are available."""
        return (
            self.observed_generation >= (self.version.generation or 0)
            and self.updated_replicas >= self.desired
            and self.replicas <= self.updated_replicas
            and self.available_replicas >= self.desired
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class PodState:
    """One engine pod, reduced to what explains its readiness."""

    name: str
    node: str | None
    ready: bool
    terminating: bool
    unschedulable_message: str | None
    waiting_reason: str | None
    waiting_message: str
    restarts: int
    last_exit: str | None
    """How the engine container last ended, e.g. `Error (exit code 1)`."""
    last_exit_failed: bool = False
    """Whether that last end was a failure (a non-zero exit code)."""
    last_error: str | None = None
    """The engine's own line on why it last ended (see `engine_error_line`), from its
    termination message, which the kubelet takes from the end of its log when the engine wrote
    none; e.g. vLLM's `vllm serve: error: unrecognized arguments: --bogus`."""

    @classmethod
    def from_body(cls, body: Body) -> PodState:
        meta = _mapping(body.get("metadata"))
        spec = _mapping(body.get("spec"))
        status = _mapping(body.get("status"))
        conditions = _conditions(status)
        scheduled = conditions.get("PodScheduled", {})
        unschedulable = (
            str(scheduled.get("message", ""))
            if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable"
            else None
        )
        container: Body = {}
        for candidate in status.get("containerStatuses") or ():
            candidate = _mapping(candidate)
            if candidate.get("name") == engine_pod.CONTAINER_NAME:
                container = candidate
        waiting = _mapping(_mapping(container.get("state")).get("waiting"))
        # Between a crash and its restart the container is in the ended state itself; after
        # the restart its last state holds that end.
        terminated = _mapping(_mapping(container.get("state")).get("terminated")) or _mapping(
            _mapping(container.get("lastState")).get("terminated")
        )
        last_exit = (
            f"{terminated.get('reason', 'Terminated')} (exit code {terminated.get('exitCode')})"
            if terminated
            else None
        )
        node = spec.get("nodeName")
        return cls(
            name=str(meta.get("name", "")),
            node=str(node) if node else None,
            ready=_mapping(conditions.get("Ready")).get("status") == "True",
            terminating=meta.get("deletionTimestamp") is not None,
            unschedulable_message=unschedulable,
            waiting_reason=str(waiting["reason"]) if waiting.get("reason") else None,
            waiting_message=str(waiting.get("message", "")),
            restarts=int(container.get("restartCount", 0)),
            last_exit=last_exit,
            last_exit_failed=bool(terminated) and terminated.get("exitCode") != 0,
            last_error=engine_error_line(str(terminated.get("message") or "")),
        )

    @property
    def image_pull_failing(self) -> bool:
        return self.waiting_reason in _IMAGE_PULL_REASONS

    @property
    def crash_looping(self) -> bool:
        # A kubelet keeps a crashing container waiting in CrashLoopBackOff most of the time, but
        # while its back-off is short the container spends more time starting than waiting; a
        # status refresh that lands then still has to see the loop, so repeated failures count.
        if self.waiting_reason == "CrashLoopBackOff":
            return True
        return not self.ready and self.restarts >= CRASH_LOOP_RESTARTS and self.last_exit_failed

    @property
    def refused_arguments(self) -> RefusedArguments | None:
        """The flags the engine's parser refused when it last exited, if that is why it
        failed: a fault of the spec that no restart mends."""
        if not self.last_exit_failed:
            return None
        return refused_arguments(self.last_error)

    @property
    def config_failing(self) -> bool:
        return self.waiting_reason in _CONFIG_REASONS


def gpu_product_of(node: Body) -> str | None:
    """The node's `nvidia.com/gpu.product` label, if it has one."""
    product = _mapping(_mapping(node.get("metadata")).get("labels")).get(
        engine_pod.GPU_PRODUCT_LABEL
    )
    return str(product) if product else None
