"""The desired state of a ModelService: model, engine, replicas, SLO classes, placement, drain.

Every rule here exists twice: as a Python check (so controllers, the gateway and tests refuse a
bad spec with the same words) and as a CEL rule or schema constraint in the CRD (so the API server
refuses it before any controller sees it). The attribute docstrings become the field
descriptions that `kubectl explain modelservice.spec` prints.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from sloserve.api import cel, durations
from sloserve.api.autoscaling import CLASS_TARGETS_RULE, Autoscaling

# The engine's types are re-exported: callers read the whole spec's vocabulary from here.
from sloserve.api.engine import AUTO_PROFILE, DEFAULT_PROFILE, Engine, EngineKind
from sloserve.api.env import EnvVar
from sloserve.api.fields import INT32_MAX, ApiModel, DnsLabel, DurationText
from sloserve.api.pod_overlay import GPU_RESOURCE, Resources
from sloserve.api.tokenizer import ConfigMapTokenizer, TokenizerSource

__all__ = [
    "AUTO_PROFILE",
    "DEFAULT_PROFILE",
    "GPU_RESOURCE",
    "MAX_DRAIN_SECONDS",
    "MAX_SLO_CLASSES",
    "Autoscaling",
    "ConfigMapTokenizer",
    "Engine",
    "EngineKind",
    "EnvVar",
    "ModelServiceSpec",
    "Placement",
    "Resources",
    "SLOClass",
    "TokenizerSource",
]

#: Upper bound on SLO classes per ModelService; it keeps the API server's CEL cost bounded.
MAX_SLO_CLASSES = 16

#: Longest drain a ModelService may ask for: a day.
MAX_DRAIN_SECONDS = 86400

_INT32: cel.JsonDict = {"format": "int32"}


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

    max_prompt_tokens: int | None = Field(
        default=None, ge=1, le=INT32_MAX, json_schema_extra=_INT32
    )
    """Longest prompt, in tokens, that requests of this class send. The operator warns (the
    condition `SLOAttainable=False`) when `ttft` is below the profile's best-case prefill of a
    prompt this long."""

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
    classes requests are served against, how engine pods are placed, and how long a removed
    engine may drain."""

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
            ),
            CLASS_TARGETS_RULE,
            cel.rule(
                "!has(self.tokenizer) || !has(self.tokenizer.path) || has(self.engine.modelCache)",
                message="tokenizer.path is a directory inside the model cache: set "
                "engine.modelCache too, or use tokenizer.configMap",
                field_path=".tokenizer.path",
                reason="FieldValueRequired",
            ),
        )
    )

    model: str = Field(min_length=1, max_length=253, pattern=r"^\S+$")
    """Model id that clients send in requests, e.g. `meta-llama/Llama-3.1-8B-Instruct`."""

    engine: Engine
    """The inference server of each replica."""

    replicas: int = Field(default=1, ge=0, le=INT32_MAX, json_schema_extra=_INT32)
    """Number of engine replicas; with `autoscaling` set, the operator writes it."""

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

    drain_seconds: int | None = Field(
        default=None, ge=0, le=MAX_DRAIN_SECONDS, json_schema_extra=_INT32
    )
    """Seconds an engine pod that is being removed (scale-down, rollout, node drain) may take
    to finish its in-flight requests after the gateway stops sending it new ones, before the
    engine gets SIGTERM; default the operator's `engines.drain_seconds` (120). The pod's
    `terminationGracePeriodSeconds` is this plus the engine's shutdown allowance."""

    autoscaling: Autoscaling | None = None
    """Replicas that follow demand from the classes' SLO headroom; absent: `replicas` is
    fixed."""

    tokenizer: TokenizerSource | None = None
    """The model's tokenizer, with which the gateway counts prompt tokens (chat template
    applied); absent: prompt tokens are estimated from characters."""

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

    @model_validator(mode="after")
    def _tokenizer_path_needs_the_cache(self) -> ModelServiceSpec:
        source = self.tokenizer
        if source is not None and source.path is not None and self.engine.model_cache is None:
            raise ValueError(
                "tokenizer.path is a directory inside the model cache: set engine.modelCache "
                "too, or use tokenizer.configMap"
            )
        return self

    @model_validator(mode="after")
    def _class_targets_name_classes(self) -> ModelServiceSpec:
        if self.autoscaling is None:
            return self
        names = {slo_class.name for slo_class in self.slo_classes}
        for target in self.autoscaling.class_targets:
            if target.name not in names:
                raise ValueError(
                    f"autoscaling.classTargets names {target.name!r}, which is not one of"
                    f" sloClasses: {', '.join(sorted(names))}; every autoscaling.classTargets"
                    " entry must name one of sloClasses"
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
