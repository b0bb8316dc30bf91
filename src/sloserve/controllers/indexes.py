"""In-memory indexes of what the operator watches, kept current by kopf from watch streams.

Handlers read the indexes instead of calling the API: a status refresh costs no request unless
the status changed. Each index maps a ModelService, as `(namespace, name)`, to records of its
children; the GPU index maps each `nvidia.com/gpu.product` to the nodes that offer it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sloserve.builders import labels as label_keys
from sloserve.builders.observed import ChildVersion, DeploymentState, PodState, gpu_product_of

__all__ = [
    "DEPLOYMENTS",
    "DISRUPTION_BUDGETS",
    "GPU_NODES",
    "PODS",
    "SERVICES",
    "OwnerKey",
    "engine_deployments",
    "engine_disruption_budgets",
    "engine_pods",
    "engine_services",
    "gpu_nodes",
]

#: A ModelService as `(namespace, name)`.
OwnerKey = tuple[str, str]

# Index ids: kopf passes each index to handlers as a keyword argument of this name.
DEPLOYMENTS = "engine_deployments"
SERVICES = "engine_services"
DISRUPTION_BUDGETS = "engine_disruption_budgets"
PODS = "engine_pods"
GPU_NODES = "gpu_nodes"


def _owner(namespace: str | None, labels: Mapping[str, str]) -> OwnerKey | None:
    owner = labels.get(label_keys.MODEL_SERVICE)
    if not owner or namespace is None:
        return None
    return (namespace, owner)


def engine_deployments(
    *, namespace: str | None, labels: Mapping[str, str], body: Mapping[str, Any], **_: Any
) -> dict[OwnerKey, DeploymentState]:
    """The engines' Deployment of each ModelService."""
    owner = _owner(namespace, labels)
    return {owner: DeploymentState.from_body(body)} if owner else {}


def engine_services(
    *, namespace: str | None, labels: Mapping[str, str], body: Mapping[str, Any], **_: Any
) -> dict[OwnerKey, ChildVersion]:
    """The version of each ModelService's engine Service."""
    owner = _owner(namespace, labels)
    return {owner: ChildVersion.from_body(body)} if owner else {}


def engine_disruption_budgets(
    *, namespace: str | None, labels: Mapping[str, str], body: Mapping[str, Any], **_: Any
) -> dict[OwnerKey, ChildVersion]:
    """The version of each ModelService's PodDisruptionBudget."""
    owner = _owner(namespace, labels)
    return {owner: ChildVersion.from_body(body)} if owner else {}


def engine_pods(
    *, namespace: str | None, labels: Mapping[str, str], body: Mapping[str, Any], **_: Any
) -> dict[OwnerKey, PodState]:
    """Every engine pod of each ModelService."""
    owner = _owner(namespace, labels)
    return {owner: PodState.from_body(body)} if owner else {}


def gpu_nodes(*, name: str, body: Mapping[str, Any], **_: Any) -> dict[str, str]:
    """The nodes offering each GPU product."""
    product = gpu_product_of(body)
    return {product: name} if product else {}
