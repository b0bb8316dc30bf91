"""Extra volumes and mounts of the engine pods, in Kubernetes' own shapes for the common volume
sources (ConfigMap, Secret, emptyDir, claim, host path, CSI, NFS, generic ephemeral), and the
path types they share with the model cache.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from sloserve.api import cel
from sloserve.api.fields import (
    ApiModel,
    DnsLabel,
    DnsSubdomain,
    Quantity,
    require_exactly_one,
)
from sloserve.api.kube_meta import AnnotationMap, LabelMap

__all__ = [
    "ABSOLUTE_PATH_PATTERN",
    "AbsolutePath",
    "CSIVolumeSource",
    "ConfigMapVolumeSource",
    "EmptyDirVolumeSource",
    "EphemeralVolumeSource",
    "HostPathVolumeSource",
    "KeyToPath",
    "NFSVolumeSource",
    "PersistentVolumeClaimVolumeSource",
    "RelativePath",
    "SecretVolumeSource",
    "Volume",
    "VolumeMount",
]

# One path component that is not `..`; RE2 (the API server's) and Rust (pydantic's) regular
# expressions run in linear time, and a pattern costs nothing against the CRD's CEL budget.
_COMPONENT = r"([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+|\.)"
#: An absolute path without `..` components.
ABSOLUTE_PATH_PATTERN = rf"^(/{_COMPONENT}?)+$"
#: A path relative to a volume's root: no leading `/`, no `..` component.
_RELATIVE_PATH_PATTERN = rf"^{_COMPONENT}(/{_COMPONENT}?)*$"
_MAX_ITEMS = 16
_INT32: cel.JsonDict = {"format": "int32"}
_ACCESS_MODES = Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod", "ReadOnlyMany"]
_HOST_PATH_TYPES = Literal[
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
]


def _refuse_parent(path: object) -> object:
    # Before the pattern, which refuses the same paths in words only a regex reader enjoys.
    if isinstance(path, str) and ".." in path.split("/"):
        raise ValueError(f"{path!r} must not contain a '..' component")
    return path


#: An absolute path without `..` components.
AbsolutePath = Annotated[
    str,
    Field(min_length=1, max_length=1024, pattern=ABSOLUTE_PATH_PATTERN),
    # After the constraints, so that it wraps them and runs first (and the schema keeps them).
    BeforeValidator(_refuse_parent),
]
#: A path inside a volume: relative, without `..` components.
RelativePath = Annotated[
    str,
    Field(min_length=1, max_length=1024, pattern=_RELATIVE_PATH_PATTERN),
    BeforeValidator(_refuse_parent),
]


class KeyToPath(ApiModel):
    """One key of a ConfigMap or Secret, as a file."""

    key: str = Field(min_length=1, max_length=253)
    """The key."""

    path: RelativePath
    """File path relative to the mount, without `..`."""

    mode: int | None = Field(default=None, ge=0, le=0o777, json_schema_extra=_INT32)
    """File mode bits (0 to 0777)."""


class ConfigMapVolumeSource(ApiModel):
    """A ConfigMap's keys as files."""

    name: DnsSubdomain
    """Name of the ConfigMap."""

    items: Annotated[tuple[KeyToPath, ...], Field(max_length=_MAX_ITEMS)] = ()
    """Keys to project, and where; default every key, as a file of its name."""

    default_mode: int | None = Field(default=None, ge=0, le=0o777, json_schema_extra=_INT32)
    """Mode bits of the files (default 0644)."""

    optional: bool | None = None
    """Start the engine even when the ConfigMap does not exist."""


class SecretVolumeSource(ApiModel):
    """A Secret's keys as files."""

    secret_name: DnsSubdomain
    """Name of the Secret."""

    items: Annotated[tuple[KeyToPath, ...], Field(max_length=_MAX_ITEMS)] = ()
    """Keys to project, and where; default every key, as a file of its name."""

    default_mode: int | None = Field(default=None, ge=0, le=0o777, json_schema_extra=_INT32)
    """Mode bits of the files (default 0644)."""

    optional: bool | None = None
    """Start the engine even when the Secret does not exist."""


class EmptyDirVolumeSource(ApiModel):
    """A scratch directory that lives as long as the pod."""

    medium: Literal["", "Memory"] | None = None
    """`Memory` for a tmpfs (counted against the container's memory limit)."""

    size_limit: Quantity | None = None
    """Most the directory may hold, e.g. `10Gi`."""


class PersistentVolumeClaimVolumeSource(ApiModel):
    """An existing PersistentVolumeClaim in the ModelService's namespace."""

    claim_name: DnsSubdomain
    """Name of the claim."""

    read_only: bool | None = None
    """Mount it read-only."""


class HostPathVolumeSource(ApiModel):
    """A directory or file of the node."""

    path: AbsolutePath
    """Absolute path on the node."""

    type: _HOST_PATH_TYPES | None = None
    """What must be at `path` (default: anything)."""


class LocalObjectReference(ApiModel):
    """An object in the ModelService's namespace, by name."""

    name: DnsSubdomain
    """Its name."""


class CSIVolumeSource(ApiModel):
    """A volume from a CSI driver (e.g. an object-store or a cache driver)."""

    driver: str = Field(min_length=1, max_length=63)
    """Name of the CSI driver."""

    read_only: bool | None = None
    """Mount it read-only."""

    fs_type: str | None = Field(default=None, max_length=63)
    """File system type, e.g. `ext4`."""

    volume_attributes: Annotated[dict[str, str], Field(max_length=_MAX_ITEMS)] = Field(
        default_factory=dict
    )
    """Driver-specific attributes."""

    node_publish_secret_ref: LocalObjectReference | None = None
    """Secret the driver needs to mount the volume."""


class NFSVolumeSource(ApiModel):
    """An NFS export."""

    server: str = Field(min_length=1, max_length=253)
    """Host name or address of the NFS server."""

    path: AbsolutePath
    """Exported path."""

    read_only: bool | None = None
    """Mount it read-only."""


class StorageRequest(ApiModel):
    """The storage a claim asks for."""

    storage: Quantity
    """Size, e.g. `100Gi`."""


class VolumeResources(ApiModel):
    """The resources a claim requests."""

    requests: StorageRequest
    """`{storage: 100Gi}`."""


class VolumeClaimSpec(ApiModel):
    """What a generic ephemeral volume's claim asks for."""

    access_modes: Annotated[tuple[_ACCESS_MODES, ...], Field(min_length=1, max_length=4)] = (
        "ReadWriteOnce",
    )
    """Access modes (default `ReadWriteOnce`)."""

    storage_class_name: DnsSubdomain | None = None
    """StorageClass of the volume; the cluster's default when unset."""

    resources: VolumeResources
    """The size requested."""

    volume_mode: Literal["Filesystem", "Block"] | None = None
    """`Filesystem` (default) or `Block`."""


class ClaimTemplateMetadata(ApiModel):
    """Labels and annotations of a generic ephemeral volume's claim."""

    labels: LabelMap = Field(default_factory=dict)
    """Labels of the claim."""

    annotations: AnnotationMap = Field(default_factory=dict)
    """Annotations of the claim."""


class VolumeClaimTemplate(ApiModel):
    """The claim a generic ephemeral volume creates with the pod (and deletes with it)."""

    metadata: ClaimTemplateMetadata | None = None
    """Labels and annotations of the claim."""

    spec: VolumeClaimSpec
    """What the claim asks for."""


class EphemeralVolumeSource(ApiModel):
    """A generic ephemeral volume: a claim created with the pod and deleted with it."""

    volume_claim_template: VolumeClaimTemplate
    """The claim to create."""


_VOLUME_SOURCES = (
    "config_map",
    "secret",
    "empty_dir",
    "persistent_volume_claim",
    "host_path",
    "csi",
    "nfs",
    "ephemeral",
)


class Volume(ApiModel):
    """An extra volume of the engine pods, mounted with `engine.volumeMounts`."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.exactly_one(
                "configMap",
                "secret",
                "emptyDir",
                "persistentVolumeClaim",
                "hostPath",
                "csi",
                "nfs",
                "ephemeral",
                what="a volume",
            )
        )
    )

    name: DnsLabel = Field(min_length=1)
    """Volume name, unique in the pod; `dshm` and `model-cache` are the operator's."""

    config_map: ConfigMapVolumeSource | None = None
    """A ConfigMap's keys as files."""

    secret: SecretVolumeSource | None = None
    """A Secret's keys as files."""

    empty_dir: EmptyDirVolumeSource | None = None
    """A scratch directory."""

    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    """An existing claim."""

    host_path: HostPathVolumeSource | None = None
    """A path of the node."""

    csi: CSIVolumeSource | None = None
    """A CSI driver's volume."""

    nfs: NFSVolumeSource | None = None
    """An NFS export."""

    ephemeral: EphemeralVolumeSource | None = None
    """A generic ephemeral volume."""

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        require_exactly_one(self, *_VOLUME_SOURCES, what="a volume")
        return self


class VolumeMount(ApiModel):
    """Where one of `engine.pod.volumes` appears in the engine container."""

    name: DnsLabel = Field(min_length=1)
    """Name of the volume, one of `engine.pod.volumes`."""

    mount_path: AbsolutePath
    """Absolute path in the container; not `/dev/shm` nor the model cache's."""

    read_only: bool | None = None
    """Mount it read-only."""

    sub_path: RelativePath | None = None
    """Path inside the volume to mount instead of its root."""

    mount_propagation: Literal["None", "HostToContainer", "Bidirectional"] | None = None
    """Mount propagation (default `None`)."""
