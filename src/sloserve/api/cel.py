"""Kubernetes schema extensions attached to the pydantic models through ``json_schema_extra``.

The models declare here what the API server must enforce beyond types and bounds (CEL rules,
list semantics); :mod:`sloserve.api.schema` carries these keys unchanged into the CRD.
"""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue

__all__ = [
    "JsonDict",
    "Reason",
    "at_most_one",
    "exactly_one",
    "list_map",
    "rule",
    "string_literal",
    "validations",
]

#: A JSON object, as ``json_schema_extra`` takes it.
JsonDict = dict[str, JsonValue]

#: The ``reason`` a failed rule reports; the API server turns it into the error's type.
Reason = Literal[
    "FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"
]


def rule(
    expression: str,
    *,
    message: str | None = None,
    message_expression: str | None = None,
    field_path: str | None = None,
    reason: Reason | None = None,
) -> JsonDict:
    """One ``x-kubernetes-validations`` entry.

    ``field_path`` is relative to the object the rule is attached to (``.defaultClass``), so the
    error names the offending field rather than its parent.
    """
    entry: JsonDict = {"rule": expression}
    if message is not None:
        entry["message"] = message
    if message_expression is not None:
        entry["messageExpression"] = message_expression
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def validations(*rules: JsonDict) -> JsonDict:
    """The ``json_schema_extra`` that attaches ``rules`` to a model or field."""
    return {"x-kubernetes-validations": list(rules)}


def list_map(*keys: str) -> JsonDict:
    """The ``json_schema_extra`` of a list whose items are unique by ``keys``.

    The API server then refuses duplicates itself (naming the duplicated item) and server-side
    apply merges items by key instead of replacing the whole list.
    """
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def string_literal(text: str) -> str:
    """``text`` as a CEL string literal (a regular expression keeps its backslashes)."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def exactly_one(*fields: str, what: str) -> JsonDict:
    """A rule that exactly one of the camelCase `fields` of the object is set; `what` names the
    object in the message (`valueFrom`, `modelCache`)."""
    present = ", ".join(f"has(self.{field})" for field in fields)
    return rule(
        f"[{present}].exists_one(set, set)",
        message=f"{what} must set exactly one of {', '.join(fields)}",
    )


def at_most_one(*fields: str, what: str) -> JsonDict:
    """A rule that at most one of the camelCase `fields` of the object is set."""
    present = ", ".join(f"has(self.{field})" for field in fields)
    return rule(
        f"[{present}].filter(set, set).size() <= 1",
        message=f"{what} may set only one of {', '.join(fields)}",
    )
