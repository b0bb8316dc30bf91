"""Field types and the base model shared by the sloserve custom resources.

Each annotated type validates in Python and publishes the same constraint in the CRD, so that
the models and the API server refuse the same values.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from sloserve.api import cel, durations, quantities

__all__ = [
    "DNS_LABEL_PATTERN",
    "INT32_MAX",
    "MAX_RESOURCE_NAMES",
    "ApiModel",
    "DnsLabel",
    "DnsSubdomain",
    "DurationText",
    "Quantity",
    "ResourceList",
    "require_at_most_one",
    "require_exactly_one",
]

#: RFC 1123 label: what Kubernetes accepts as a label-like name, and what we accept as a class name.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

#: Largest value of a field published as `format: int32` (replica and GPU counts, priorities).
INT32_MAX = 2**31 - 1

#: Bounds every map of quantities, which the API server needs to estimate the cost of CEL rules.
MAX_RESOURCE_NAMES = 16


class ApiModel(BaseModel):
    """Base of every record in the custom resources.

    Fields are written in snake_case in Python and camelCase on the wire; both spellings are
    accepted on input and camelCase is written on output. Unknown fields are refused, as the
    API server does under strict field validation. Records are immutable.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


def _check_duration(text: str) -> str:
    durations.parse_duration(text)
    return text


_DURATION_SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": durations.DURATION_MAX_LENGTH,
    "pattern": durations.DURATION_PATTERN,
    **cel.validations(
        cel.rule(
            f"self.matches({cel.string_literal(durations.DURATION_PATTERN)})"
            f" && self.matches({cel.string_literal(durations.NONZERO_DIGIT_PATTERN)})",
            message_expression=(
                "'must be a positive duration such as 500ms, 3s, 1.5s, 2m or 1h30m, not \"'"
                " + self + '\"'"
            ),
        )
    ),
}

#: A positive duration in the text the user wrote (`500ms`); read it with
#: `sloserve.api.durations.parse_duration`.
DurationText = Annotated[str, AfterValidator(_check_duration), WithJsonSchema(_DURATION_SCHEMA)]


def _integer_as_text(value: object) -> object:
    # YAML reads `cpu: 2` as an integer; Kubernetes accepts it as the quantity "2".
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _check_quantity(text: str) -> str:
    quantities.parse_quantity(text)
    return text


_QUANTITY_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "maxLength": quantities.QUANTITY_MAX_LENGTH,
    "pattern": quantities.QUANTITY_PATTERN,
    "x-kubernetes-int-or-string": True,
}

#: A non-negative Kubernetes quantity (`500m`, `16Gi`, `2`), kept as text.
Quantity = Annotated[
    str,
    BeforeValidator(_integer_as_text),
    AfterValidator(_check_quantity),
    WithJsonSchema(_QUANTITY_SCHEMA),
]

#: Quantities by resource name (`cpu`, `memory`), as in a container's `resources`.
ResourceList = Annotated[dict[str, Quantity], Field(max_length=MAX_RESOURCE_NAMES)]

#: A class or profile name: lowercase letters, digits and `-`, at most 63 characters.
DnsLabel = Annotated[str, StringConstraints(max_length=63, pattern=DNS_LABEL_PATTERN)]

#: RFC 1123 subdomain: what Kubernetes accepts as the name of a Secret, ConfigMap or claim.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

#: The name of an object an engine refers to (a Secret, a ConfigMap, a claim, a class).
DnsSubdomain = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
]


def _set_fields(model: BaseModel, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if getattr(model, name) is not None]


def require_exactly_one(model: BaseModel, *names: str, what: str) -> None:
    """Raises ValueError in the words of `cel.exactly_one` unless exactly one of the fields
    `names` (snake_case) of `model` is set."""
    if len(_set_fields(model, names)) != 1:
        camel = ", ".join(to_camel(name) for name in names)
        raise ValueError(f"{what} must set exactly one of {camel}")


def require_at_most_one(model: BaseModel, *names: str, what: str) -> None:
    """Raises ValueError in the words of `cel.at_most_one` when several of `names` are set."""
    if len(_set_fields(model, names)) > 1:
        camel = ", ".join(to_camel(name) for name in names)
        raise ValueError(f"{what} may set only one of {camel}")
