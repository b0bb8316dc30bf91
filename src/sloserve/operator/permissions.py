"""The Kubernetes permissions the operator needs, no more: the Helm chart's RBAC and
docs/operator.md follow these rules, and a test runs the operator under exactly them.

Rules are RBAC PolicyRules as dicts, by where they apply: `WORKLOAD_RULES` in every namespace the
operator serves (one ClusterRole when it serves all of them), with `INFERENCE_POOL_RULES` beside
them when it makes InferencePools and `FINETUNE_RULES` when it runs the FineTuneJob
controller, `NODE_RULES` cluster-wide (nodes are cluster-scoped), `LEASE_RULES` in the
namespace of its leader-election Lease.
"""

from __future__ import annotations

from typing import Any

from sloserve.api import finetunejob, modelservice
from sloserve.builders import inference_pool

__all__ = ["FINETUNE_RULES", "INFERENCE_POOL_RULES", "LEASE_RULES", "NODE_RULES", "WORKLOAD_RULES"]

_READ = ["get", "list", "watch"]
# Server-side apply creates or updates with PATCH; creating through it is also checked against
# `create`.
_APPLY = [*_READ, "create", "patch"]

#: In every namespace served: the ModelServices, what is made for them, and their Events.
WORKLOAD_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [modelservice.GROUP],
        "resources": [modelservice.PLURAL],
        # kopf writes its finalizer and its bookkeeping annotations with PATCH.
        "verbs": [*_READ, "patch"],
    },
    {
        "apiGroups": [modelservice.GROUP],
        "resources": [f"{modelservice.PLURAL}/status"],
        "verbs": ["get", "patch"],
    },
    {
        # Owner references that block the owner's deletion require this where the
        # OwnerReferencesPermissionEnforcement admission plugin runs.
        "apiGroups": [modelservice.GROUP],
        "resources": [f"{modelservice.PLURAL}/finalizers"],
        "verbs": ["update"],
    },
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": _APPLY},
    {"apiGroups": [""], "resources": ["services"], "verbs": _APPLY},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _APPLY},
    {"apiGroups": [""], "resources": ["pods"], "verbs": _READ},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]

#: In every namespace served, when the operator makes InferencePools (`inference_pools.enabled`):
#: applying them. Whether the cluster serves their API is asked of discovery, open to everyone.
INFERENCE_POOL_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [inference_pool.INFERENCE_POOL.api_version.split("/")[0]],
        "resources": [inference_pool.INFERENCE_POOL.plural],
        "verbs": ["create", "patch"],
    }
]

#: In every namespace served, when the FineTuneJob controller runs (`finetune.enabled`), beside
#: `WORKLOAD_RULES` (which already read pods and ModelServices and create Events): the jobs (kopf
#: watches them and patches its bookkeeping), their status, `update` on their finalizers for the
#: worker pod's blocking owner reference, the worker pods (created once; read for their address
#: and node; deleted only to evict a job to its checkpoint), and `get` on the ConfigMap or claim
#: a job names as its dataset (never `list`: no other ConfigMap is read).
FINETUNE_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [modelservice.GROUP],
        "resources": [finetunejob.PLURAL],
        "verbs": [*_READ, "patch"],
    },
    {
        "apiGroups": [modelservice.GROUP],
        "resources": [f"{finetunejob.PLURAL}/status"],
        "verbs": ["get", "patch"],
    },
    {
        "apiGroups": [modelservice.GROUP],
        "resources": [f"{finetunejob.PLURAL}/finalizers"],
        "verbs": ["update"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete"]},
    {"apiGroups": [""], "resources": ["configmaps", "persistentvolumeclaims"], "verbs": ["get"]},
]

#: Cluster-wide: which GPU products the nodes offer.
NODE_RULES: list[dict[str, Any]] = [{"apiGroups": [""], "resources": ["nodes"], "verbs": _READ}]

#: In the Lease's namespace: leader election.
LEASE_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "update"],
    }
]
