"""Security contexts of the engine container and pod, in Kubernetes' shapes.

The operator hardens the engine container by default (no privilege escalation, every capability
dropped, the runtime's default seccomp profile); each field set here replaces the operator's
choice for that field only, so relaxing one thing keeps the rest.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from sloserve.api import cel
from sloserve.api.fields import ApiModel

__all__ = ["Capabilities", "ContainerSecurityContext", "PodSecurityContext", "SeccompProfile"]

_INT64_MAX = 2**63 - 1
_CAPABILITY_PATTERN = r"^[A-Z][A-Z_]*$"
_Capability = Annotated[str, Field(max_length=64, pattern=_CAPABILITY_PATTERN)]
_CapabilityList = Annotated[tuple[_Capability, ...], Field(max_length=64)]


class Capabilities(ApiModel):
    """Linux capabilities added to, and dropped from, the container's default set."""

    add: _CapabilityList = ()
    """Capabilities to add, e.g. `IPC_LOCK`."""

    drop: _CapabilityList | None = None
    """Capabilities to drop; the operator drops `ALL` unless this is set (`[]` drops none)."""


class SeccompProfile(ApiModel):
    """The seccomp filter of a container or pod."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "self.type == 'Localhost' ? has(self.localhostProfile)"
                " : !has(self.localhostProfile)",
                message="localhostProfile is set with type Localhost, and only then",
                field_path=".localhostProfile",
            )
        )
    )

    type: Literal["RuntimeDefault", "Localhost", "Unconfined"]
    """`RuntimeDefault` (the operator's default), `Localhost` or `Unconfined`."""

    localhost_profile: str | None = Field(default=None, min_length=1, max_length=4096)
    """Path of the profile on the node, relative to the kubelet's seccomp directory."""

    @model_validator(mode="after")
    def _profile_with_localhost(self) -> SeccompProfile:
        if (self.type == "Localhost") != (self.localhost_profile is not None):
            raise ValueError("localhostProfile is set with type Localhost, and only then")
        return self


class ContainerSecurityContext(ApiModel):
    """Security settings of the engine container; unset fields keep the operator's hardened
    defaults."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.privileged) || !self.privileged"
                " || !has(self.allowPrivilegeEscalation) || self.allowPrivilegeEscalation",
                message="a privileged container always allows privilege escalation: drop "
                "allowPrivilegeEscalation: false or privileged: true",
                field_path=".allowPrivilegeEscalation",
            )
        )
    )

    allow_privilege_escalation: bool | None = None
    """Whether a process may gain more privileges than its parent (default false)."""

    capabilities: Capabilities | None = None
    """Capabilities to add and drop (default: drop `ALL`)."""

    privileged: bool | None = None
    """Run the container privileged (default false; implies privilege escalation)."""

    read_only_root_filesystem: bool | None = None
    """Mount the container's root file system read-only (default false: vLLM writes caches
    under the home directory unless they are redirected)."""

    run_as_non_root: bool | None = None
    """Refuse to start as root."""

    run_as_user: int | None = Field(default=None, ge=0, le=_INT64_MAX)
    """User id of the engine process."""

    run_as_group: int | None = Field(default=None, ge=0, le=_INT64_MAX)
    """Group id of the engine process."""

    seccomp_profile: SeccompProfile | None = None
    """Seccomp filter (default `RuntimeDefault`)."""

    @model_validator(mode="after")
    def _privileged_escalates(self) -> ContainerSecurityContext:
        if self.privileged and self.allow_privilege_escalation is False:
            raise ValueError(
                "a privileged container always allows privilege escalation: drop "
                "allowPrivilegeEscalation: false or privileged: true"
            )
        return self


class PodSecurityContext(ApiModel):
    """Security settings of the whole engine pod."""

    run_as_user: int | None = Field(default=None, ge=0, le=_INT64_MAX)
    """User id of every container's processes."""

    run_as_group: int | None = Field(default=None, ge=0, le=_INT64_MAX)
    """Group id of every container's processes."""

    run_as_non_root: bool | None = None
    """Refuse to start containers as root."""

    fs_group: int | None = Field(default=None, ge=0, le=_INT64_MAX)
    """Group that owns the pod's volumes (so a non-root engine can write the model cache)."""

    fs_group_change_policy: Literal["OnRootMismatch", "Always"] | None = None
    """`OnRootMismatch` skips re-owning a large cache volume whose root already fits."""

    supplemental_groups: Annotated[
        tuple[Annotated[int, Field(ge=0, le=_INT64_MAX)], ...], Field(max_length=32)
    ] = ()
    """Further groups of every container's processes."""

    seccomp_profile: SeccompProfile | None = None
    """Seccomp filter of every container (the engine's own default is `RuntimeDefault`)."""
