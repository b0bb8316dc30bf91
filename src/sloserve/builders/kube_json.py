"""Kubernetes-shaped records of the ModelService (tolerations, volumes, security contexts, ...)
written into manifests, in the API's camelCase and without the fields left unset."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from sloserve.builders.defaults import Manifest

__all__ = ["to_json", "to_manifest"]


def to_manifest(record: BaseModel) -> Manifest:
    """`record` as the API writes it: camelCase keys, and no unset (None) field nor empty list
    or map, so that re-applying an unchanged spec sends exactly what it sent before. A nested
    record without fields stays as `{}`, since an empty object may mean something (an
    `emptyDir: {}` volume)."""
    result: Manifest = {}
    for name, field in type(record).model_fields.items():
        value = getattr(record, name)
        if value is None or (isinstance(value, tuple | dict) and not value):
            continue
        result[field.alias or name] = to_json(value)
    return result


def to_json(value: Any) -> Any:
    """A field's value as JSON: records as `to_manifest`, enums as their values."""
    if isinstance(value, BaseModel):
        return to_manifest(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    return value
