"""What a ModelService adds to its engine pods beyond what the operator owns: scheduling
constraints, pull secrets, identity, extra volumes, labels and annotations; and the engine
container's CPU and memory.

The operator owns the selector labels, its own annotations and volumes, probes, ports and the
command line; the rules here refuse what would collide with them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from sloserve.api import cel
from sloserve.api.fields import ApiModel, DnsSubdomain, ResourceList
from sloserve.api.kube_meta import AnnotationMap, LabelMap
from sloserve.api.pod_scheduling import Affinity, Toleration, TopologySpreadConstraint
from sloserve.api.pod_storage import LocalObjectReference, Volume
from sloserve.api.quantities import parse_quantity
from sloserve.api.security import PodSecurityContext

__all__ = [
    "CACHE_VOLUME",
    "GPU_RESOURCE",
    "OPERATOR_ANNOTATION_PREFIXES",
    "OPERATOR_LABEL_KEYS",
    "OPERATOR_LABEL_PREFIX",
    "SHM_VOLUME",
    "PodOverlay",
    "Resources",
]

#: The extended resource that `engine.gpus` requests; not to be set through `resources`.
GPU_RESOURCE = "nvidia.com/gpu"
#: The names of the volumes the operator adds to engine pods.
SHM_VOLUME = "dshm"
CACHE_VOLUME = "model-cache"
#: Pod labels the operator sets (the Deployment's selector among them), and the prefix of its
#: own keys; `engine.pod.labels` may set none of them.
OPERATOR_LABEL_KEYS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
)
OPERATOR_LABEL_PREFIX = "sloserve.io/"
#: Prefixes of the pod annotations the operator and the placement extender own.
OPERATOR_ANNOTATION_PREFIXES = ("sloserve.io/", "placement.sloserve.io/")
_MAX_LIST = 32


def _owned_by_operator(key: str, *, keys: tuple[str, ...], prefixes: tuple[str, ...]) -> bool:
    return key in keys or key.startswith(prefixes)


class Resources(ApiModel):
    """CPU and memory of the engine container, as in a Pod; GPUs are set with `engine.gpus`."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                f"!has(self.requests) || !('{GPU_RESOURCE}' in self.requests)",
                message=f"set GPUs with engine.gpus, not resources.requests['{GPU_RESOURCE}']",
                field_path=".requests",
                reason="FieldValueForbidden",
            ),
            cel.rule(
                f"!has(self.limits) || !('{GPU_RESOURCE}' in self.limits)",
                message=f"set GPUs with engine.gpus, not resources.limits['{GPU_RESOURCE}']",
                field_path=".limits",
                reason="FieldValueForbidden",
            ),
            cel.rule(
                "!has(self.requests) || !has(self.limits) || self.limits.all(name,"
                " !(name in self.requests)"
                " || !isQuantity(string(self.limits[name]))"
                " || !isQuantity(string(self.requests[name]))"
                " || quantity(string(self.limits[name]))"
                ".compareTo(quantity(string(self.requests[name]))) >= 0)",
                message="every limit must be at least the request of the same resource",
                field_path=".limits",
            ),
        )
    )

    requests: ResourceList = Field(default_factory=dict)
    """Resources the scheduler reserves for each replica, e.g. `{cpu: "8", memory: 64Gi}`."""

    limits: ResourceList = Field(default_factory=dict)
    """Most each replica may use; each at least the request of the same resource."""

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Resources:
        for section, amounts in (("requests", self.requests), ("limits", self.limits)):
            if GPU_RESOURCE in amounts:
                raise ValueError(
                    f"set GPUs with engine.gpus, not resources.{section}['{GPU_RESOURCE}']"
                )
        for name, limit in self.limits.items():
            request = self.requests.get(name)
            if request is not None and parse_quantity(limit) < parse_quantity(request):
                raise ValueError(
                    f"resources.limits[{name!r}] = {limit} is below resources.requests[{name!r}]"
                    f" = {request}: every limit must be at least the request of the same resource"
                )
        return self


_LABEL_LIST = ", ".join(OPERATOR_LABEL_KEYS)
_ANNOTATION_PREFIXES = " or ".join(OPERATOR_ANNOTATION_PREFIXES)


class PodOverlay(ApiModel):
    """Fields of the engine pods that the operator does not own."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                f"!has(self.labels) || !self.labels.exists(k, k in {list(OPERATOR_LABEL_KEYS)!r}"
                f" || k.startsWith('{OPERATOR_LABEL_PREFIX}'))",
                message=f"labels {_LABEL_LIST} and {OPERATOR_LABEL_PREFIX}* are set by the "
                "operator (the Deployment selects its pods by them); use other keys",
                field_path=".labels",
                reason="FieldValueForbidden",
            ),
            cel.rule(
                "!has(self.annotations) || !self.annotations.exists(k, "
                + " || ".join(f"k.startsWith('{p}')" for p in OPERATOR_ANNOTATION_PREFIXES)
                + ")",
                message=f"annotations under {_ANNOTATION_PREFIXES} are set by the operator; use "
                "other keys (a ModelService's own annotations carry placement hints)",
                field_path=".annotations",
                reason="FieldValueForbidden",
            ),
            cel.rule(
                f"!has(self.volumes) || self.volumes.all(v, v.name != '{SHM_VOLUME}'"
                f" && v.name != '{CACHE_VOLUME}')",
                message=f"volume names {SHM_VOLUME} and {CACHE_VOLUME} are the operator's "
                "(shared memory and engine.modelCache); name yours otherwise",
                field_path=".volumes",
                reason="FieldValueForbidden",
            ),
        )
    )

    labels: LabelMap = Field(default_factory=dict)
    """Extra labels of the engine pods (not the operator's own keys)."""

    annotations: AnnotationMap = Field(default_factory=dict)
    """Extra annotations of the engine pods, e.g. for a service mesh or a log shipper."""

    node_selector: LabelMap = Field(default_factory=dict)
    """Node labels an engine pod's node must have, e.g. `{pool: h100-reserved}`."""

    tolerations: Annotated[tuple[Toleration, ...], Field(max_length=_MAX_LIST)] = ()
    """Taints engine pods tolerate, besides `nvidia.com/gpu:NoSchedule` which GPU engines
    always tolerate."""

    affinity: Affinity | None = None
    """Node and pod affinity; `engine.gpuProduct` is added to every required node term."""

    topology_spread_constraints: Annotated[
        tuple[TopologySpreadConstraint, ...], Field(max_length=8)
    ] = ()
    """How replicas spread over nodes or zones. Default: across nodes
    (`kubernetes.io/hostname`, `maxSkew: 1`, `ScheduleAnyway`), so one node's loss takes as
    few replicas as the cluster allows."""

    image_pull_secrets: Annotated[
        tuple[LocalObjectReference, ...],
        Field(max_length=8, json_schema_extra=cel.list_map("name")),
    ] = ()
    """Secrets with credentials for the engine image's registry."""

    priority_class_name: DnsSubdomain | None = None
    """PriorityClass of the engine pods, e.g. one that may preempt batch work."""

    runtime_class_name: DnsSubdomain | None = None
    """RuntimeClass of the engine pods, e.g. `nvidia` where the GPU runtime is not the
    default."""

    service_account_name: DnsSubdomain | None = None
    """ServiceAccount of the engine pods (default the namespace's `default`), e.g. one bound
    to cloud credentials for reading weights from object storage."""

    automount_service_account_token: bool = False
    """Mount the ServiceAccount's API token (default false: engines never call the API)."""

    security_context: PodSecurityContext | None = None
    """Pod-wide security settings, e.g. `fsGroup` so that a non-root engine can write the
    model cache."""

    volumes: Annotated[
        tuple[Volume, ...], Field(max_length=_MAX_LIST, json_schema_extra=cel.list_map("name"))
    ] = ()
    """Extra volumes of the engine pods, mounted with `engine.volumeMounts`."""

    @field_validator("labels")
    @classmethod
    def _no_operator_labels(cls, entries: dict[str, str]) -> dict[str, str]:
        for key in entries:
            if _owned_by_operator(key, keys=OPERATOR_LABEL_KEYS, prefixes=(OPERATOR_LABEL_PREFIX,)):
                raise ValueError(
                    f"label {key!r}: labels {_LABEL_LIST} and {OPERATOR_LABEL_PREFIX}* are set by "
                    "the operator (the Deployment selects its pods by them); use other keys"
                )
        return entries

    @field_validator("annotations")
    @classmethod
    def _no_operator_annotations(cls, entries: dict[str, str]) -> dict[str, str]:
        for key in entries:
            if _owned_by_operator(key, keys=(), prefixes=OPERATOR_ANNOTATION_PREFIXES):
                raise ValueError(
                    f"annotation {key!r}: annotations under {_ANNOTATION_PREFIXES} are set by "
                    "the operator; use other keys"
                )
        return entries

    @field_validator("volumes")
    @classmethod
    def _volume_names(cls, volumes: tuple[Volume, ...]) -> tuple[Volume, ...]:
        seen: set[str] = set()
        for volume in volumes:
            if volume.name in (SHM_VOLUME, CACHE_VOLUME):
                raise ValueError(
                    f"volume names {SHM_VOLUME} and {CACHE_VOLUME} are the operator's (shared "
                    "memory and engine.modelCache); name yours otherwise"
                )
            if volume.name in seen:
                raise ValueError(f"two volumes are named {volume.name!r}; names must be unique")
            seen.add(volume.name)
        return volumes
