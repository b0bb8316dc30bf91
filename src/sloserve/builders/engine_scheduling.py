"""Where engine pods may run: node selector, tolerations, affinity and topology spread.

The operator's own constraints come first and the user's (`engine.pod`) are merged into them:
`engine.gpuProduct` is ANDed into every required node term, GPU engines always tolerate the
`nvidia.com/gpu:NoSchedule` taint, and replicas spread across nodes unless the spec says how.
"""

from __future__ import annotations

from collections.abc import Mapping

from sloserve.api.engine import GPU_PRODUCT_LABEL, Engine
from sloserve.api.pod_overlay import GPU_RESOURCE
from sloserve.builders import kube_json, labels
from sloserve.builders.defaults import Manifest

__all__ = ["HOSTNAME_LABEL", "affinity", "tolerations", "topology_spread"]

#: The node label that names the node: one topology domain per node.
HOSTNAME_LABEL = "kubernetes.io/hostname"
_GPU_TOLERATION: Manifest = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
# Each rollout's new ReplicaSet is counted apart from the old one, so that a surge pod does not
# count the pods it replaces against its own spread.
_ROLLOUT_LABEL_KEYS = ["pod-template-hash"]


def tolerations(engine: Engine) -> list[Manifest]:
    """The GPU taint's toleration for GPU engines, then `engine.pod.tolerations` (one equal to
    the GPU toleration is not repeated)."""
    found: list[Manifest] = [dict(_GPU_TOLERATION)] if engine.gpus > 0 else []
    for toleration in engine.pod.tolerations:
        written = kube_json.to_manifest(toleration)
        if written not in found:
            found.append(written)
    return found


def _required_terms(engine: Engine) -> list[Manifest] | None:
    node_affinity = engine.pod.affinity.node_affinity if engine.pod.affinity else None
    required = (
        node_affinity.required_during_scheduling_ignored_during_execution
        if node_affinity is not None
        else None
    )
    terms = (
        [kube_json.to_manifest(term) for term in required.node_selector_terms]
        if required is not None
        else []
    )
    if engine.gpu_product is None:
        return terms or None
    product = {"key": GPU_PRODUCT_LABEL, "operator": "In", "values": [engine.gpu_product]}
    # Terms are ORed and a term's expressions ANDed: the product must hold in every term.
    for term in terms or [{}]:
        term.setdefault("matchExpressions", []).append(product)
    return terms or [{"matchExpressions": [product]}]


def affinity(engine: Engine, *, preferred: Mapping[str, object] | None) -> Manifest | None:
    """The pod's affinity: `engine.pod.affinity` with `engine.gpuProduct` in every required node
    term and the placement's `preferred` node terms after the user's; None when empty."""
    user = engine.pod.affinity
    result: Manifest = kube_json.to_manifest(user) if user is not None else {}
    node_affinity: Manifest = result.pop("nodeAffinity", {})
    terms = _required_terms(engine)
    if terms:
        node_affinity[_REQUIRED] = {"nodeSelectorTerms": terms}
    if preferred:
        for key, value in preferred.items():
            if key == _PREFERRED and isinstance(value, list):
                node_affinity[_PREFERRED] = [*node_affinity.get(_PREFERRED, []), *value]
            else:
                node_affinity[key] = value
    if node_affinity:
        result = {"nodeAffinity": node_affinity, **result}
    return result or None


def topology_spread(engine: Engine, *, model_service: str) -> list[Manifest]:
    """`engine.pod.topologySpreadConstraints`, each without a `labelSelector` counting this
    ModelService's engine pods; by default one constraint spreading them across nodes, as
    evenly as the scheduler can without leaving a pod Pending (`ScheduleAnyway`)."""
    selector = {"matchLabels": labels.selector_labels(model_service)}
    constraints = [kube_json.to_manifest(c) for c in engine.pod.topology_spread_constraints]
    for constraint in constraints:
        constraint.setdefault("labelSelector", selector)
    if constraints:
        return constraints
    return [
        {
            "maxSkew": 1,
            "topologyKey": HOSTNAME_LABEL,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": selector,
            "matchLabelKeys": list(_ROLLOUT_LABEL_KEYS),
        }
    ]
