"""The pod template of a ModelService's engines.

The operator owns the engine container's command line, ports, probes, preStop hook, shared
memory and model cache, the selector labels and its annotations; everything else the spec's
`engine.pod` may add (see `engine_scheduling` and `engine_storage` for how the two are merged).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from sloserve.api.engine import GPU_PRODUCT_LABEL
from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import (
    drain,
    engine_args,
    engine_resources,
    engine_scheduling,
    engine_security,
    engine_storage,
    kube_json,
    labels,
)
from sloserve.builders.defaults import EngineDefaults, Manifest

__all__ = [
    "CONTAINER_NAME",
    "GPU_PRODUCT_LABEL",
    "HEALTH_PATH",
    "POD_IP_ENV",
    "PORT_NAME",
    "PlacementTemplate",
    "engine_container",
    "engine_pod_template",
    "scheduler_name",
]

CONTAINER_NAME = "engine"
PORT_NAME = "http"
HEALTH_PATH = "/health"
POD_IP_ENV = engine_storage.POD_IP_ENV

_STARTUP_PERIOD_S = 5
_READINESS_PERIOD_S = 5
_LIVENESS_PERIOD_S = 10


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


def _probe(*, period_s: int, failure_threshold: int, timeout_s: int) -> Manifest:
    return {
        "httpGet": {"path": HEALTH_PATH, "port": PORT_NAME},
        "periodSeconds": period_s,
        "timeoutSeconds": timeout_s,
        "failureThreshold": failure_threshold,
    }


def engine_container(spec: ModelServiceSpec, defaults: EngineDefaults) -> Manifest:
    """The engine container: image, command line, environment, ports, resources, probes, the
    draining preStop hook, security context and mounts. A crash shows its last log lines as the
    termination message, which the operator reports in the `CrashLooping` condition."""
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
    env = engine_storage.engine_env(engine, defaults)
    if env:
        container["env"] = env
    env_from = engine_storage.engine_env_from(engine)
    if env_from:
        container["envFrom"] = env_from
    container["ports"] = [{"name": PORT_NAME, "containerPort": engine.port, "protocol": "TCP"}]
    resources = engine_resources.engine_resources(engine)
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
    pre_stop = drain.pre_stop_hook(spec, defaults)
    if pre_stop is not None:
        container["lifecycle"] = {"preStop": pre_stop}
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    container["securityContext"] = engine_security.container_security_context(
        engine.security_context, pod=engine.pod.security_context
    )
    mounts = engine_storage.volume_mounts(engine)
    if mounts:
        container["volumeMounts"] = mounts
    return container


def _pod_spec(
    *, name: str, spec: ModelServiceSpec, defaults: EngineDefaults, placement: PlacementTemplate
) -> Manifest:
    engine = spec.engine
    overlay = engine.pod
    pod_spec: Manifest = {
        "automountServiceAccountToken": overlay.automount_service_account_token,
        # Engines find nothing through Service environment variables; in a namespace with many
        # Services those variables only slow the start and clutter the environment.
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": drain.termination_grace_period_s(spec, defaults),
        "containers": [engine_container(spec, defaults)],
    }
    optional: dict[str, object] = {
        "serviceAccountName": overlay.service_account_name,
        "priorityClassName": overlay.priority_class_name,
        "runtimeClassName": overlay.runtime_class_name,
        "schedulerName": scheduler_name(spec, defaults),
        "nodeSelector": dict(overlay.node_selector) or None,
        "affinity": engine_scheduling.affinity(engine, preferred=placement.preferred_affinity),
        "tolerations": engine_scheduling.tolerations(engine) or None,
        "topologySpreadConstraints": engine_scheduling.topology_spread(engine, model_service=name),
        "imagePullSecrets": [kube_json.to_manifest(s) for s in overlay.image_pull_secrets] or None,
        "securityContext": (
            kube_json.to_manifest(overlay.security_context) if overlay.security_context else None
        ),
        "volumes": engine_storage.pod_volumes(engine, model_service=name) or None,
    }
    pod_spec.update({key: value for key, value in optional.items() if value is not None})
    return pod_spec


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
    placement = placement or PlacementTemplate()
    engine = spec.engine
    annotations = {**engine.pod.annotations, **placement.annotations}
    annotations |= {
        labels.MODEL_ANNOTATION: spec.model,
        labels.PROFILE_ANNOTATION: engine.profile,
    }
    return {
        "metadata": {
            "labels": {
                **engine.pod.labels,
                **labels.engine_labels(name, engine_kind=engine.kind.value),
            },
            "annotations": annotations,
        },
        "spec": _pod_spec(name=name, spec=spec, defaults=defaults, placement=placement),
    }
