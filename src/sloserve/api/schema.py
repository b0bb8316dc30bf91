"""Turn a pydantic model's JSON Schema into a structural OpenAPI v3 schema for a CRD.

The API server accepts only *structural* schemas: every node has a type, there are no
references, optional fields are simply not required, and objects either list their properties or
describe their values (``additionalProperties``), never both. This module rewrites pydantic's
output into that shape and keeps everything else the models declare: descriptions, bounds,
patterns, enums, defaults and the ``x-kubernetes-*`` extensions from :mod:`sloserve.api.cel`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

__all__ = ["SchemaError", "structural_schema", "unwrap_description"]

JsonSchema = dict[str, Any]

# JSON Schema annotations that only document the Python side.
_DROPPED_KEYS = frozenset({"title", "examples"})
# Keywords copied as they are: those of a structural schema that carry no nested schema.
_PLAIN_KEYS = frozenset(
    {
        "type",
        "format",
        "enum",
        "required",
        "minimum",
        "maximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "anyOf",
        "x-kubernetes-int-or-string",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
    }
)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class SchemaError(ValueError):
    """A model uses a construct that has no structural OpenAPI equivalent."""


def structural_schema(model: type[BaseModel]) -> JsonSchema:
    """The structural OpenAPI v3 schema of ``model``'s wire form (camelCase, as validated).

    Raises :class:`SchemaError` naming the construct when the model cannot be expressed.
    """
    document = model.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, JsonSchema] = document.pop("$defs", {})
    return _convert(document, definitions, where=model.__name__)


def _convert(node: JsonSchema, definitions: dict[str, JsonSchema], *, where: str) -> JsonSchema:
    node = _inline(node, definitions, where=where)
    result: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key in _PLAIN_KEYS:
            result[key] = value
        elif key == "properties":
            result[key] = {
                name: _convert(child, definitions, where=f"{where}.{name}")
                for name, child in value.items()
            }
        elif key == "items":
            result[key] = _convert(value, definitions, where=f"{where}[]")
        elif key == "additionalProperties":
            # `false` is what pydantic writes for extra="forbid"; a structural schema forbids
            # unknown fields by listing properties, and refuses the keyword itself.
            if isinstance(value, dict):
                result[key] = _convert(value, definitions, where=f"{where}{{}}")
        elif key == "description":
            result[key] = unwrap_description(value)
        elif key == "exclusiveMinimum" or key == "exclusiveMaximum":
            # JSON Schema 2020-12 gives the bound; OpenAPI v3.0 flags the inclusive one.
            result[key.replace("exclusive", "").lower()] = value
            result[key] = True
        elif key == "default":
            if _keeps_default(value):
                result[key] = value
        else:
            raise SchemaError(f"{where}: {key!r} has no place in a structural schema")
    if "type" not in result and not result.get("x-kubernetes-int-or-string"):
        raise SchemaError(f"{where}: no structural type for schema {node}")
    return result


def _inline(node: JsonSchema, definitions: dict[str, JsonSchema], *, where: str) -> JsonSchema:
    """Replace references and ``T | None`` unions by the schema they stand for."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in definitions:
            raise SchemaError(f"{where}: unresolved reference {node['$ref']}")
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return _inline(_merge(definitions[name], siblings), definitions, where=where)
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        branches = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
        if len(branches) != 1:
            raise SchemaError(f"{where}: unions of several types are not structural")
        siblings = {key: value for key, value in node.items() if key != "anyOf"}
        return _inline(_merge(branches[0], siblings), definitions, where=where)
    return node


def _merge(target: JsonSchema, siblings: JsonSchema) -> JsonSchema:
    """``target`` refined by the field-level ``siblings``; validation rules of both apply."""
    merged = {**target, **siblings}
    rules = [
        *target.get("x-kubernetes-validations", []),
        *siblings.get("x-kubernetes-validations", []),
    ]
    if rules:
        merged["x-kubernetes-validations"] = rules
    return merged


def _keeps_default(value: object) -> bool:
    # A null default means "absent", and an empty list would only clutter every stored object;
    # an empty object is kept because it lets the API server apply the defaults inside it.
    return value is not None and value != []


def unwrap_description(description: str) -> str:
    """Docstring line breaks become spaces; paragraph breaks stay."""
    paragraphs = _PARAGRAPH_BREAK.split(description.strip())
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)
