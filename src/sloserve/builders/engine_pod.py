"""The pod template of a ModelService's engines."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from sloserve.api.spec import GPU_RESOURCE, Engine, EngineKind, ModelServiceSpec
from sloserve.builders import engine_args, labels
from sloserve.builders.defaults import EngineDefaults, Manifest

__all__ = [
    "CONTAINER_NAME",
    "GPU_PRODUCT_LABEL",
    "HEALTH_PATH",
    "POD_IP_ENV",
    "PORT_NAME",
    "PlacementTemplate",
    "engine_pod_template",
    "scheduler_name",
]

CONTAINER_NAME = "engine"
PORT_NAME = "http"
HEALTH_PATH = "/health"
#: The node label that `engine.gpuProduct` is matched against (set by NVIDIA's GPU feature
#: discovery, and on the local kind cluster's nodes).
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"

_STARTUP_PERIOD_S = 5
_READINESS_PERIOD_S = 5
_LIVENESS_PERIOD_S = 10
_SHM_VOLUME = "dshm"
#: The environment variable holding the pod's IP, for a listen host of `$(POD_IP)`.
POD_IP_ENV = "POD_IP"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlacementTemplate:
    """What interference-aware placement adds to the engine pod template.

    Attributes:
        annotations: the annotations the placement extender reads (workload kind, slowdown
            limit).
        preferred_affinity: `nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution`
            terms favouring nodes by predicted slowdown, when no interference-aware scheduler
            runs; None for none.
    """

    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    preferred_affinity: Mapping[str, object] | None = None


def scheduler_name(spec: ModelServiceSpec, defaults: EngineDefaults) -> str | None:
    """The engine pods' scheduler: the one the placement names, else the interference-aware
    scheduler when placement is interference-aware, else None (the cluster's default)."""
    if spec.placement.scheduler_name is not None:
        return spec.placement.scheduler_name
    if spec.placement.interference_aware:
        return defaults.interference_aware_scheduler
    return None


def _env(engine: Engine, defaults: EngineDefaults) -> list[Manifest]:
    env: list[Manifest] = []
    if f"$({POD_IP_ENV})" in defaults.listen_host:
        env.append({"name": POD_IP_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
    env += [{"name": var.name, "value": var.value} for var in engine.env]
    return env


def _resources(engine: Engine) -> Manifest:
    requests: dict[str, str] = dict(engine.resources.requests)
    limits: dict[str, str] = dict(engine.resources.limits)
    if engine.gpus > 0:
        # Extended resources cannot be overcommitted: request and limit must be equal.
        requests[GPU_RESOURCE] = str(engine.gpus)
        limits[GPU_RESOURCE] = str(engine.gpus)
    resources: Manifest = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def _probe(*, period_s: int, failure_threshold: int, timeout_s: int) -> Manifest:
    return {
        "httpGet": {"path": HEALTH_PATH, "port": PORT_NAME},
        "periodSeconds": period_s,
        "timeoutSeconds": timeout_s,
        "failureThreshold": failure_threshold,
    }


def _container(spec: ModelServiceSpec, defaults: EngineDefaults) -> Manifest:
    engine = spec.engine
    image = engine.image if engine.image is not None else defaults.sim_image
    container: Manifest = {"name": CONTAINER_NAME, "image": image}
    if defaults.image_pull_policy is not None:
        container["imagePullPolicy"] = defaults.image_pull_policy
    command = engine_args.engine_command(engine)
    if command is not None:
        container["command"] = list(command)
    container["args"] = list(
        engine_args.engine_args(model=spec.model, engine=engine, listen_host=defaults.listen_host)
    )
    env = _env(engine, defaults)
    if env:
        container["env"] = env
    container["ports"] = [{"name": PORT_NAME, "containerPort": engine.port, "protocol": "TCP"}]
    resources = _resources(engine)
    if resources:
        container["resources"] = resources
    # The startup probe holds the other two off while the weights load, however long that is.
    container["startupProbe"] = _probe(
        period_s=_STARTUP_PERIOD_S,
        failure_threshold=max(1, math.ceil(defaults.startup_timeout_s / _STARTUP_PERIOD_S)),
        timeout_s=2,
    )
    container["readinessProbe"] = _probe(
        period_s=_READINESS_PERIOD_S, failure_threshold=3, timeout_s=2
    )
    container["livenessProbe"] = _probe(
        period_s=_LIVENESS_PERIOD_S, failure_threshold=3, timeout_s=5
    )
    if defaults.drain_delay_s > 0:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": defaults.drain_delay_s}}}
    container["securityContext"] = {"allowPrivilegeEscalation": False}
    # A failed engine's last log lines become its termination message, so that the operator can
    # put the engine's own error (an unknown flag, say) on the ModelService's status.
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    if engine.kind is EngineKind.VLLM:
        # vLLM's workers share tensors through /dev/shm, which a container gets only 64 MiB of.
        container["volumeMounts"] = [{"name": _SHM_VOLUME, "mountPath": "/dev/shm"}]
    return container


def _affinity(engine: Engine, preferred: Mapping[str, object] | None) -> Manifest | None:
    node_affinity: Manifest = {}
    if engine.gpu_product is not None:
        requirement = {"key": GPU_PRODUCT_LABEL, "operator": "In", "values": [engine.gpu_product]}
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": [requirement]}]
        }
    if preferred:
        node_affinity.update(preferred)
    return {"nodeAffinity": node_affinity} if node_affinity else None


def engine_pod_template(
    *,
    name: str,
    spec: ModelServiceSpec,
    defaults: EngineDefaults,
    placement: PlacementTemplate | None = None,
) -> Manifest:
    """The pod template of the engines of ModelService `name`, with `placement`'s annotations
    and preferred node affinity. Pure and deterministic: the same inputs give the same
    template, so re-applying it never restarts an engine."""
    engine = spec.engine
    pod_spec: Manifest = {
        # Engines never call the Kubernetes API.
        "automountServiceAccountToken": False,
        # Engines find nothing through Service environment variables; in a namespace with many
        # Services those variables only slow the start and clutter the environment.
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": defaults.termination_grace_period_s,
        "containers": [_container(spec, defaults)],
    }
    scheduler = scheduler_name(spec, defaults)
    if scheduler is not None:
        pod_spec["schedulerName"] = scheduler
    affinity = _affinity(engine, placement.preferred_affinity if placement else None)
    if affinity is not None:
        pod_spec["affinity"] = affinity
    if engine.gpus > 0:
        # GPU nodes are commonly tainted so that only pods that need a GPU land there.
        pod_spec["tolerations"] = [
            {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
        ]
    if engine.kind is EngineKind.VLLM:
        pod_spec["volumes"] = [{"name": _SHM_VOLUME, "emptyDir": {"medium": "Memory"}}]
    annotations = dict(placement.annotations) if placement else {}
    annotations |= {
        labels.MODEL_ANNOTATION: spec.model,
        labels.PROFILE_ANNOTATION: engine.profile,
    }
    return {
        "metadata": {
            "labels": labels.engine_labels(name, engine_kind=engine.kind.value),
            "annotations": annotations,
        },
        "spec": pod_spec,
    }
