"""The children of a ModelService: the engines' Deployment, Service and PodDisruptionBudget.

Each is named after the ModelService (whose name is an RFC 1035 label, so it is a valid Service
name) and lives in its namespace. The manifests are complete desired states for server-side
apply: a field the operator stops sending is removed from the object.
"""

from __future__ import annotations

import dataclasses

from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import engine_pod, labels
from sloserve.builders.defaults import EngineDefaults, Manifest

__all__ = [
    "ChildKind",
    "build_children",
    "build_deployment",
    "build_disruption_budget",
    "build_service",
]

_REVISION_HISTORY = 3


@dataclasses.dataclass(frozen=True)
class ChildKind:
    """A kind of object the operator creates for each ModelService."""

    api_version: str
    kind: str
    plural: str


DEPLOYMENT = ChildKind("apps/v1", "Deployment", "deployments")
SERVICE = ChildKind("v1", "Service", "services")
DISRUPTION_BUDGET = ChildKind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
#: In the order they are applied: the Service first, so that engines are discoverable the moment
#: they are ready.
CHILD_KINDS = (SERVICE, DEPLOYMENT, DISRUPTION_BUDGET)


def _metadata(*, name: str, namespace: str, spec: ModelServiceSpec) -> Manifest:
    return {
        "name": name,
        "namespace": namespace,
        "labels": labels.engine_labels(name, engine_kind=spec.engine.kind.value),
        "annotations": {
            labels.MODEL_ANNOTATION: spec.model,
            labels.PROFILE_ANNOTATION: spec.engine.profile,
        },
    }


def build_deployment(
    *,
    name: str,
    namespace: str,
    spec: ModelServiceSpec,
    defaults: EngineDefaults,
    placement: engine_pod.PlacementTemplate | None = None,
) -> Manifest:
    """The Deployment that runs `spec.replicas` engines, rolling them one surge pod at a time
    (by default) whenever the pod template changes (`placement` is part of it)."""
    return {
        "apiVersion": DEPLOYMENT.api_version,
        "kind": DEPLOYMENT.kind,
        "metadata": _metadata(name=name, namespace=namespace, spec=spec),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": labels.selector_labels(name)},
            "revisionHistoryLimit": _REVISION_HISTORY,
            "progressDeadlineSeconds": defaults.progress_deadline_s,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "maxSurge": defaults.max_surge,
                    "maxUnavailable": defaults.max_unavailable,
                },
            },
            "template": engine_pod.engine_pod_template(
                name=name, spec=spec, defaults=defaults, placement=placement
            ),
        },
    }


def build_service(*, name: str, namespace: str, spec: ModelServiceSpec) -> Manifest:
    """The Service of the engines. The gateway reads its EndpointSlices (which carry its labels)
    to find ready engines, and its `sloserve.io/model` annotation for the model id."""
    return {
        "apiVersion": SERVICE.api_version,
        "kind": SERVICE.kind,
        "metadata": _metadata(name=name, namespace=namespace, spec=spec),
        "spec": {
            "type": "ClusterIP",
            "selector": labels.selector_labels(name),
            "ports": [
                {
                    "name": engine_pod.PORT_NAME,
                    "port": spec.engine.port,
                    "targetPort": engine_pod.PORT_NAME,
                    "protocol": "TCP",
                    "appProtocol": "http",
                }
            ],
        },
    }


def build_disruption_budget(
    *, name: str, namespace: str, spec: ModelServiceSpec, defaults: EngineDefaults
) -> Manifest:
    """The PodDisruptionBudget that keeps node drains from taking more than
    `defaults.disruption_max_unavailable` engines down at once. Pods that are not ready may
    always be evicted, so that a crash-looping engine never blocks a drain."""
    return {
        "apiVersion": DISRUPTION_BUDGET.api_version,
        "kind": DISRUPTION_BUDGET.kind,
        "metadata": _metadata(name=name, namespace=namespace, spec=spec),
        "spec": {
            "selector": {"matchLabels": labels.selector_labels(name)},
            "maxUnavailable": defaults.disruption_max_unavailable,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def build_children(
    *,
    name: str,
    namespace: str,
    spec: ModelServiceSpec,
    defaults: EngineDefaults,
    placement: engine_pod.PlacementTemplate | None = None,
) -> tuple[Manifest, ...]:
    """Every object ModelService `name` should own, in the order of `CHILD_KINDS`, the engine
    template carrying `placement`. Raises SpecError when the spec cannot be built."""
    return (
        build_service(name=name, namespace=namespace, spec=spec),
        build_deployment(
            name=name, namespace=namespace, spec=spec, defaults=defaults, placement=placement
        ),
        build_disruption_budget(name=name, namespace=namespace, spec=spec, defaults=defaults),
    )
