"""The model cache and the model source of the engine pods.

`ModelCache` is the one volume the operator mounts for the weights (an existing claim, a generic
ephemeral volume per pod, or a host path), read-write at one path with `HF_HOME` pointed at it;
`ModelSource` says which weights vLLM loads: a hub repository, or a path inside that volume.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator

from sloserve.api import cel
from sloserve.api.fields import ApiModel, DnsSubdomain, Quantity, require_exactly_one
from sloserve.api.pod_storage import AbsolutePath, RelativePath
from sloserve.api.quantities import parse_quantity

__all__ = [
    "DEFAULT_MOUNT_PATH",
    "EphemeralCache",
    "HostPathCache",
    "ModelCache",
    "ModelSource",
    "PersistentVolumeClaimCache",
]

#: Where the model cache appears in the engine container unless `mountPath` says otherwise.
DEFAULT_MOUNT_PATH = "/models"
_HUB_ID_PATTERN = r"^[A-Za-z0-9][-A-Za-z0-9_.]*(/[A-Za-z0-9][-A-Za-z0-9_.]*)?$"


class PersistentVolumeClaimCache(ApiModel):
    """An existing claim holds the cache; `ReadWriteMany` lets every replica share it."""

    claim_name: DnsSubdomain
    """Name of the PersistentVolumeClaim in the ModelService's namespace."""


class EphemeralCache(ApiModel):
    """Each engine pod gets its own claim, created with the pod and deleted with it (a generic
    ephemeral volume): weights are downloaded once per pod, onto real disk, not the node's
    root file system."""

    size: Quantity
    """Size of each pod's claim, e.g. `100Gi`: the weights, with room to spare."""

    storage_class_name: DnsSubdomain | None = None
    """StorageClass of the claims; the cluster's default when unset."""

    @model_validator(mode="after")
    def _size_positive(self) -> EphemeralCache:
        if parse_quantity(self.size) <= 0:
            raise ValueError(f"size {self.size} must be above zero")
        return self


class HostPathCache(ApiModel):
    """A directory of the node holds the cache, shared by every engine on that node and kept
    across pod restarts."""

    path: AbsolutePath
    """Absolute path on the node, e.g. `/mnt/models`; created if missing."""


class ModelCache(ApiModel):
    """The volume the model's weights are cached on, mounted read-write at `mountPath` with
    `HF_HOME` pointed at it. Exactly one of `persistentVolumeClaim`, `ephemeral`, `hostPath`."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.exactly_one("persistentVolumeClaim", "ephemeral", "hostPath", what="modelCache"),
            cel.rule(
                "!has(self.ephemeral) || quantity(string(self.ephemeral.size)).isGreaterThan("
                "quantity('0'))",
                message="the ephemeral cache's size must be above zero, e.g. 100Gi",
                field_path=".ephemeral.size",
            ),
        )
    )

    persistent_volume_claim: PersistentVolumeClaimCache | None = None
    """An existing claim."""

    ephemeral: EphemeralCache | None = None
    """A claim per pod, made with it."""

    host_path: HostPathCache | None = None
    """A directory of the node."""

    mount_path: AbsolutePath = DEFAULT_MOUNT_PATH
    """Where the cache appears in the engine container (default `/models`); `HF_HOME`."""

    @model_validator(mode="after")
    def _one_source(self) -> ModelCache:
        require_exactly_one(
            self, "persistent_volume_claim", "ephemeral", "host_path", what="modelCache"
        )
        return self


class ModelSource(ApiModel):
    """Which weights the engine loads: a Hugging Face hub repository (downloaded into the
    model cache, if there is one) or a directory inside the model cache. Exactly one of `hub`,
    `path`."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.exactly_one("hub", "path", what="modelSource"),
            cel.rule(
                "!has(self.revision) || has(self.hub)",
                message="revision applies to a hub repository only",
                field_path=".revision",
            ),
        )
    )

    hub: str | None = Field(default=None, max_length=253, pattern=_HUB_ID_PATTERN)
    """Hub repository id, e.g. `meta-llama/Llama-3.1-8B-Instruct`."""

    revision: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^\S+$")
    """Branch, tag or commit of the hub repository (vLLM's `--revision`)."""

    path: RelativePath | None = None
    """Directory of the weights relative to `modelCache.mountPath`, e.g.
    `llama-3.1-8b-instruct`; needs `modelCache`."""

    @model_validator(mode="after")
    def _one_source(self) -> ModelSource:
        require_exactly_one(self, "hub", "path", what="modelSource")
        if self.revision is not None and self.hub is None:
            raise ValueError("revision applies to a hub repository only")
        return self
