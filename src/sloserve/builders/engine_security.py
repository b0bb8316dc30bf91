"""The engine container's security context: hardened by default, relaxed field by field."""

from __future__ import annotations

from sloserve.api.security import ContainerSecurityContext, PodSecurityContext
from sloserve.builders import kube_json
from sloserve.builders.defaults import Manifest

__all__ = ["container_security_context"]

_RUNTIME_DEFAULT = {"type": "RuntimeDefault"}


def container_security_context(
    requested: ContainerSecurityContext | None, *, pod: PodSecurityContext | None
) -> Manifest:
    """No privilege escalation, every capability dropped and the runtime's default seccomp
    profile, unless `requested` sets the field otherwise: `capabilities.drop` replaces the
    `ALL` drop, `privileged: true` lifts the escalation default (Kubernetes refuses the two
    together), and a pod-level seccomp profile is left to apply."""
    requested = requested or ContainerSecurityContext()
    context: Manifest = kube_json.to_manifest(requested)
    if requested.allow_privilege_escalation is None and not requested.privileged:
        context["allowPrivilegeEscalation"] = False
    capabilities: Manifest = {}
    if requested.capabilities is not None and requested.capabilities.add:
        capabilities["add"] = list(requested.capabilities.add)
    drop = requested.capabilities.drop if requested.capabilities is not None else None
    capabilities["drop"] = list(drop) if drop is not None else ["ALL"]
    if not capabilities["drop"]:
        del capabilities["drop"]
    if capabilities:
        context["capabilities"] = capabilities
    else:
        context.pop("capabilities", None)
    if requested.seccomp_profile is None and (pod is None or pod.seccomp_profile is None):
        context["seccompProfile"] = dict(_RUNTIME_DEFAULT)
    return dict(sorted(context.items()))
