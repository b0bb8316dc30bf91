"""The desired state of a ModelService: model, engine, replicas, SLO classes and placement.

Every rule here exists twice: as a Python check (so controllers, the gateway and tests refuse a
bad spec with the same words) and as a CEL rule or schema constraint in the CRD (so the API server
refuses it before any controller sees it). The attribute docstrings become the field
descriptions that `kubectl explain modelservice.spec` prints.
"""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from sloserve.api import cel, durations
from sloserve.api.fields import INT32_MAX, ApiModel, DnsLabel, DurationText, ResourceList
from sloserve.api.quantities import parse_quantity

__all__ = [
    "DEFAULT_PROFILE",
    "GPU_RESOURCE",
    "MAX_SLO_CLASSES",
    "Engine",
    "EngineKind",
    "EnvVar",
    "ModelServiceSpec",
    "Placement",
    "Resources",
    "SLOClass",
]

#: Latency profile used for admission predictions when the spec names none.
DEFAULT_PROFILE = "h100-llama3-8b"

#: The extended resource that `engine.gpus` requests; not to be set through `resources`.
GPU_RESOURCE = "nvidia.com/gpu"

#: Upper bound on SLO classes per ModelService; it keeps the API server's CEL cost bounded.
MAX_SLO_CLASSES = 16

_INT32: cel.JsonDict = {"format": "int32"}
# A node label value, as `nvidia.com/gpu.product` is matched against one.
_LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# What kubelet accepts as an environment variable name in every Kubernetes release we support.
_ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
_VLLM_IMAGE_EXAMPLE = "vllm/vllm-openai:v0.11.0"


class EngineKind(enum.StrEnum):
    """The server that runs each replica: `vllm` in production, `sim` (the sloserve engine
    simulator) in tests, development and benchmarks."""

    VLLM = "vllm"
    SIM = "sim"


class EnvVar(ApiModel):
    """An environment variable of the engine container."""

    name: str = Field(min_length=1, max_length=253, pattern=_ENV_NAME_PATTERN)
    """Variable name: letters, digits, `_`, `-` and `.`, not starting with a digit."""

    value: str = ""
    """Variable value."""


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
    """Resources the scheduler reserves for each replica, e.g. `{cpu: "2", memory: 16Gi}`."""

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


class Engine(ApiModel):
    """The inference server of each replica."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.kind) || self.kind != 'vllm' || has(self.image)",
                message=f"image is required when kind is vllm, e.g. {_VLLM_IMAGE_EXAMPLE}",
                field_path=".image",
                reason="FieldValueRequired",
            )
        )
    )

    kind: EngineKind
    """`vllm` or `sim`."""

    image: str | None = Field(default=None, min_length=1, max_length=1024)
    """Container image. Required for `vllm`; for `sim` the operator's own image is the
    default."""

    args: tuple[str, ...] = ()
    """Extra command-line arguments of the engine, e.g. `["--max-num-seqs", "256"]`."""

    env: Annotated[tuple[EnvVar, ...], Field(json_schema_extra=cel.list_map("name"))] = ()
    """Extra environment variables of the engine container; names are unique."""

    gpus: int = Field(default=0, ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """GPUs (`nvidia.com/gpu`) per replica."""

    gpu_product: str | None = Field(
        default=None, min_length=1, max_length=63, pattern=_LABEL_VALUE_PATTERN
    )
    """GPU model required of the node, matched against its `nvidia.com/gpu.product` label,
    e.g. `NVIDIA-H100-80GB-HBM3`."""

    profile: DnsLabel = DEFAULT_PROFILE
    """Name of the measured latency profile used to predict TTFT and TPOT for admission."""

    resources: Resources = Field(default_factory=Resources)
    """CPU and memory requests and limits of the engine container."""

    port: int = Field(default=8000, ge=1, le=65535)
    """Port the engine serves the OpenAI API and `/metrics` on."""

    @field_validator("env")
    @classmethod
    def _env_names_unique(cls, env: tuple[EnvVar, ...]) -> tuple[EnvVar, ...]:
        _refuse_duplicate_names([variable.name for variable in env], field="engine.env")
        return env

    @model_validator(mode="after")
    def _vllm_needs_image(self) -> Engine:
        if self.kind is EngineKind.VLLM and self.image is None:
            raise ValueError(
                f"engine.image is required when engine.kind is vllm, e.g. {_VLLM_IMAGE_EXAMPLE}"
            )
        return self


class SLOClass(ApiModel):
    """A service class: the latency objectives a request of this class is served against."""

    name: DnsLabel
    """Class name, sent by clients in a request header: lowercase letters, digits and `-`."""

    ttft: DurationText
    """Time-to-first-token objective, e.g. `500ms`; strictly positive."""

    tpot: DurationText
    """Time-per-output-token objective, e.g. `50ms`; strictly positive."""

    priority: int | None = Field(
        default=None, ge=-INT32_MAX - 1, le=INT32_MAX, json_schema_extra=_INT32
    )
    """Relative importance when not every class can be served; higher is more important.
    Classes without one count as 0."""

    @property
    def ttft_seconds(self) -> float:
        """The TTFT objective in seconds."""
        return durations.parse_duration(self.ttft)

    @property
    def tpot_seconds(self) -> float:
        """The TPOT objective in seconds."""
        return durations.parse_duration(self.tpot)


class Placement(ApiModel):
    """How engine pods are placed on nodes."""

    interference_aware: bool = False
    """Place engine pods with the sloserve scheduler, which avoids nodes where co-located work
    is predicted to slow them down."""

    max_predicted_slowdown: float = Field(default=1.25, ge=1.0, allow_inf_nan=False)
    """Largest predicted slowdown (1 = none) a node may impose on a new engine pod; at least 1."""

    scheduler_name: str | None = Field(default=None, min_length=1, max_length=253)
    """Scheduler of the engine pods; by default the sloserve scheduler when interference-aware,
    else the cluster's default scheduler."""


class ModelServiceSpec(ApiModel):
    """Desired state of a ModelService: the model, its engine, how many replicas, the SLO
    classes requests are served against, and how engine pods are placed."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.sloClasses) || !has(self.defaultClass)"
                " || self.sloClasses.exists(c, c.name == self.defaultClass)",
                message_expression=(
                    "'defaultClass \"' + self.defaultClass + '\" must be the name of one of"
                    " sloClasses'"
                ),
                field_path=".defaultClass",
            )
        )
    )

    model: str = Field(min_length=1, max_length=253, pattern=r"^\S+$")
    """Model id that clients send in requests, e.g. `meta-llama/Llama-3.1-8B-Instruct`."""

    engine: Engine
    """The inference server of each replica."""

    replicas: int = Field(default=1, ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """Number of engine replicas."""

    slo_classes: Annotated[
        tuple[SLOClass, ...],
        Field(min_length=1, max_length=MAX_SLO_CLASSES, json_schema_extra=cel.list_map("name")),
    ]
    """Service classes with their TTFT and TPOT objectives; at least one, names unique."""

    default_class: DnsLabel
    """Class of requests that name none; must be one of `sloClasses`. Required, so that
    reordering the classes never changes where untagged requests go."""

    placement: Placement = Field(default_factory=Placement, json_schema_extra={"default": {}})
    """How engine pods are placed on nodes."""

    @field_validator("slo_classes")
    @classmethod
    def _class_names_unique(cls, classes: tuple[SLOClass, ...]) -> tuple[SLOClass, ...]:
        _refuse_duplicate_names([slo_class.name for slo_class in classes], field="sloClasses")
        return classes

    @model_validator(mode="after")
    def _default_class_exists(self) -> ModelServiceSpec:
        names = [slo_class.name for slo_class in self.slo_classes]
        if self.default_class not in names:
            raise ValueError(
                f'defaultClass "{self.default_class}" must be the name of one of sloClasses: '
                + ", ".join(names)
            )
        return self

    def slo_class(self, name: str) -> SLOClass:
        """The class called `name`; raises `KeyError` naming it when there is none."""
        for slo_class in self.slo_classes:
            if slo_class.name == name:
                return slo_class
        raise KeyError(name)

    @property
    def default_slo_class(self) -> SLOClass:
        """The class of requests that name none."""
        return self.slo_class(self.default_class)


def _refuse_duplicate_names(names: list[str], *, field: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{field} has two entries named {name!r}; names must be unique")
        seen.add(name)
