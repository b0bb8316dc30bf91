"""Where engine pods may run: tolerations, affinity and topology spread, in Kubernetes' shapes.

These are the Pod's own types (the fields a user writes there, with the same names), with the
rules the API server checks on a Pod, so that a wrong term is refused with the ModelService.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from sloserve.api import cel
from sloserve.api.fields import INT32_MAX, ApiModel
from sloserve.api.kube_meta import LabelKey, LabelMap, LabelValue

__all__ = [
    "Affinity",
    "LabelSelector",
    "LabelSelectorRequirement",
    "NodeAffinity",
    "NodeSelector",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "PodAffinity",
    "PodAffinityTerm",
    "PreferredSchedulingTerm",
    "Toleration",
    "TopologySpreadConstraint",
    "WeightedPodAffinityTerm",
]

_MAX_TERMS = 16
_MAX_VALUES = 64
_INT32: cel.JsonDict = {"format": "int32"}
_Values = Annotated[tuple[LabelValue, ...], Field(max_length=_MAX_VALUES)]
_Keys = Annotated[tuple[LabelKey, ...], Field(max_length=_MAX_TERMS)]


def _values_rule(with_values: str) -> cel.JsonDict:
    count = "(has(self.values) ? self.values.size() : 0)"
    return cel.rule(
        f"self.operator in [{with_values}] ? {count} > 0 : {count} == 0",
        message_expression=(
            "'operator ' + self.operator + (self.operator in ["
            + with_values
            + "] ? ' needs values' : ' takes no values')"
        ),
        field_path=".values",
    )


def _check_values(operator: str, values: tuple[str, ...], needs_values: set[str]) -> None:
    if operator in needs_values and not values:
        raise ValueError(f"operator {operator} needs values")
    if operator not in needs_values and values:
        raise ValueError(f"operator {operator} takes no values")


class LabelSelectorRequirement(ApiModel):
    """A label that must (not) be present or have one of some values."""

    model_config = ConfigDict(json_schema_extra=cel.validations(_values_rule("'In', 'NotIn'")))

    key: LabelKey
    """The label key."""

    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """How the label's value is compared with `values`."""

    values: _Values = ()
    """Values for `In` and `NotIn`; none for `Exists` and `DoesNotExist`."""

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        _check_values(self.operator, self.values, {"In", "NotIn"})
        return self


class LabelSelector(ApiModel):
    """Selects pods (or namespaces) by their labels; every term must hold."""

    match_labels: LabelMap = Field(default_factory=dict)
    """Labels that must have exactly these values."""

    match_expressions: Annotated[
        tuple[LabelSelectorRequirement, ...], Field(max_length=_MAX_TERMS)
    ] = ()
    """Further requirements."""


class NodeSelectorRequirement(ApiModel):
    """A node label (or field) that must (not) be present, have one of some values, or compare
    above or below a number."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            _values_rule("'In', 'NotIn', 'Gt', 'Lt'"),
            cel.rule(
                "!(self.operator in ['Gt', 'Lt']) || has(self.values) && self.values.size() == 1"
                " && self.values[0].matches('^-?[0-9]+$')",
                message="operators Gt and Lt take exactly one integer value",
                field_path=".values",
            ),
        )
    )

    key: LabelKey
    """The label key (or for `matchFields`, `metadata.name`)."""

    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    """How the node's value is compared with `values`."""

    values: _Values = ()
    """Values for `In` and `NotIn`; one integer for `Gt` and `Lt`; none otherwise."""

    @model_validator(mode="after")
    def _values_fit_operator(self) -> NodeSelectorRequirement:
        _check_values(self.operator, self.values, {"In", "NotIn", "Gt", "Lt"})
        if self.operator in ("Gt", "Lt") and (
            len(self.values) != 1 or not self.values[0].lstrip("-").isdigit()
        ):
            raise ValueError("operators Gt and Lt take exactly one integer value")
        return self


_Requirements = Annotated[tuple[NodeSelectorRequirement, ...], Field(max_length=_MAX_TERMS)]


class NodeSelectorTerm(ApiModel):
    """Requirements on a node's labels and fields; all must hold."""

    match_expressions: _Requirements = ()
    """Requirements on node labels."""

    match_fields: _Requirements = ()
    """Requirements on node fields (`metadata.name`)."""


class NodeSelector(ApiModel):
    """Terms of which at least one must hold."""

    node_selector_terms: Annotated[
        tuple[NodeSelectorTerm, ...], Field(min_length=1, max_length=_MAX_TERMS)
    ]
    """The terms, ORed."""


class PreferredSchedulingTerm(ApiModel):
    """A node term that adds `weight` to the score of nodes that satisfy it."""

    weight: int = Field(ge=1, le=100, json_schema_extra=_INT32)
    """Weight, 1 to 100."""

    preference: NodeSelectorTerm
    """The term."""


class NodeAffinity(ApiModel):
    """Which nodes an engine pod must, or should, run on."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    """Nodes the pod may run on. The operator adds `engine.gpuProduct` to every term."""

    preferred_during_scheduling_ignored_during_execution: Annotated[
        tuple[PreferredSchedulingTerm, ...], Field(max_length=_MAX_TERMS)
    ] = ()
    """Nodes the pod prefers."""


class PodAffinityTerm(ApiModel):
    """Pods (by labels, in some namespaces) that must share, or must not share, a topology
    domain with the engine pod."""

    label_selector: LabelSelector | None = None
    """The pods."""

    namespace_selector: LabelSelector | None = None
    """Namespaces to look in, by label; with `namespaces` unset and no selector, the pod's own."""

    namespaces: Annotated[tuple[LabelValue, ...], Field(max_length=_MAX_VALUES)] = ()
    """Namespaces to look in, by name."""

    topology_key: LabelKey = Field(min_length=1)
    """The node label that defines a domain, e.g. `kubernetes.io/hostname`."""

    match_label_keys: _Keys = ()
    """Pod label keys whose values the selector must match as well, e.g. `pod-template-hash`."""

    mismatch_label_keys: _Keys = ()
    """Pod label keys whose values the selected pods must not share."""


class WeightedPodAffinityTerm(ApiModel):
    """A pod affinity term that adds `weight` to the score of nodes that satisfy it."""

    weight: int = Field(ge=1, le=100, json_schema_extra=_INT32)
    """Weight, 1 to 100."""

    pod_affinity_term: PodAffinityTerm
    """The term."""


class PodAffinity(ApiModel):
    """Pods an engine pod must, or should, run near (or, as anti-affinity, away from)."""

    required_during_scheduling_ignored_during_execution: Annotated[
        tuple[PodAffinityTerm, ...], Field(max_length=_MAX_TERMS)
    ] = ()
    """Terms that must hold."""

    preferred_during_scheduling_ignored_during_execution: Annotated[
        tuple[WeightedPodAffinityTerm, ...], Field(max_length=_MAX_TERMS)
    ] = ()
    """Terms that add to a node's score."""


class Affinity(ApiModel):
    """Node affinity, pod affinity and pod anti-affinity of the engine pods."""

    node_affinity: NodeAffinity | None = None
    """Which nodes engine pods must or should run on."""

    pod_affinity: PodAffinity | None = None
    """Which pods engine pods must or should run near."""

    pod_anti_affinity: PodAffinity | None = None
    """Which pods engine pods must or should run away from."""


class Toleration(ApiModel):
    """Lets engine pods run on nodes with a matching taint, e.g. a GPU pool's
    `dedicated=llm:NoSchedule`."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.operator) || self.operator != 'Exists'"
                " || !has(self.value) || self.value == ''",
                message="operator Exists matches any value: leave value out",
                field_path=".value",
                reason="FieldValueForbidden",
            ),
            cel.rule(
                "has(self.key) && self.key != '' || has(self.operator) && self.operator =="
                " 'Exists'",
                message="a toleration without key must have operator Exists (it tolerates"
                " every taint)",
                field_path=".operator",
            ),
            cel.rule(
                "!has(self.tolerationSeconds) || has(self.effect) && self.effect == 'NoExecute'",
                message="tolerationSeconds applies only to effect NoExecute",
                field_path=".tolerationSeconds",
            ),
        )
    )

    key: LabelKey | None = None
    """The taint's key; empty with operator `Exists` tolerates every taint."""

    operator: Literal["Exists", "Equal"] | None = None
    """`Equal` (the default) matches `value`; `Exists` any value."""

    value: LabelValue | None = None
    """The taint's value, for operator `Equal`."""

    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """The taint's effect; unset matches every effect."""

    toleration_seconds: int | None = Field(default=None, ge=0)
    """For `NoExecute`: how long the pod stays once the taint appears (unset: forever)."""

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists matches any value: leave value out")
        if not self.key and self.operator != "Exists":
            raise ValueError(
                "a toleration without key must have operator Exists (it tolerates every taint)"
            )
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds applies only to effect NoExecute")
        return self


class TopologySpreadConstraint(ApiModel):
    """How evenly engine pods spread over a topology (nodes, zones). Without `labelSelector`,
    the constraint counts this ModelService's engine pods."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.minDomains) || self.whenUnsatisfiable == 'DoNotSchedule'",
                message="minDomains applies only with whenUnsatisfiable DoNotSchedule",
                field_path=".minDomains",
            )
        )
    )

    max_skew: int = Field(ge=1, le=INT32_MAX, json_schema_extra=_INT32)
    """Largest allowed difference in engine pods between two domains."""

    topology_key: LabelKey = Field(min_length=1)
    """The node label that defines a domain, e.g. `topology.kubernetes.io/zone`."""

    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"]
    """`DoNotSchedule` keeps a pod Pending rather than skew; `ScheduleAnyway` only prefers."""

    label_selector: LabelSelector | None = None
    """Pods counted; default this ModelService's engine pods."""

    min_domains: int | None = Field(default=None, ge=1, le=INT32_MAX, json_schema_extra=_INT32)
    """Fewest domains to count, for `DoNotSchedule`."""

    node_affinity_policy: Literal["Honor", "Ignore"] | None = None
    """Whether the pod's node affinity limits the domains counted (default `Honor`)."""

    node_taints_policy: Literal["Honor", "Ignore"] | None = None
    """Whether nodes whose taints the pod does not tolerate are counted (default `Ignore`)."""

    match_label_keys: _Keys = ()
    """Pod label keys whose values the counted pods must share, e.g. `pod-template-hash`."""

    @model_validator(mode="after")
    def _min_domains_needs_do_not_schedule(self) -> TopologySpreadConstraint:
        if self.min_domains is not None and self.when_unsatisfiable != "DoNotSchedule":
            raise ValueError("minDomains applies only with whenUnsatisfiable DoNotSchedule")
        return self
