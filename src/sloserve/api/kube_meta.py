"""Label and annotation maps, checked as the API server checks those of a Pod.

Map keys cannot carry a schema pattern in a structural schema, so each map carries a CEL rule
over its keys, and the same check runs in Python.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from sloserve.api import cel

__all__ = [
    "LABEL_KEY_PATTERN",
    "LABEL_VALUE_PATTERN",
    "MAX_MAP_ENTRIES",
    "AnnotationMap",
    "LabelKey",
    "LabelMap",
    "LabelValue",
]

#: A qualified name: an optional DNS-subdomain prefix and `/`, then a name of at most 63
#: characters (the lengths are checked apart from the pattern).
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
#: A label value: empty, or at most 63 characters of letters, digits, `-`, `_` and `.`.
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
#: Bounds every label or annotation map, which the API server needs to cost its CEL rules.
MAX_MAP_ENTRIES = 64
_KEY_MAX_LENGTH = 317
_KEY = re.compile(LABEL_KEY_PATTERN)


def _key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if len(key) > _KEY_MAX_LENGTH or len(name) > 63 or len(prefix) > 253 or not _KEY.match(key):
        return (
            f"key {key!r} is not a qualified name: an optional DNS prefix and '/', then at most"
            " 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    return None


def _check_keys(entries: dict[str, str]) -> dict[str, str]:
    for key in entries:
        problem = _key_problem(key)
        if problem is not None:
            raise ValueError(problem)
    return entries


_KEY_RULE = cel.validations(
    cel.rule(
        f"self.all(k, k.size() <= {_KEY_MAX_LENGTH}"
        f" && k.matches({cel.string_literal(LABEL_KEY_PATTERN)})"
        " && k.split('/')[k.split('/').size() - 1].size() <= 63)",
        message="every key must be a qualified name: an optional DNS prefix and '/', then at "
        "most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    )
)

#: A label key, as in `metadata.labels`.
LabelKey = Annotated[str, Field(max_length=_KEY_MAX_LENGTH, pattern=LABEL_KEY_PATTERN)]
#: A label value.
LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]

#: Labels (of a pod, or a node selector): qualified keys, label values.
LabelMap = Annotated[
    dict[str, LabelValue],
    Field(max_length=MAX_MAP_ENTRIES, json_schema_extra=_KEY_RULE),
    AfterValidator(_check_keys),
]

#: Annotations: qualified keys, any text.
AnnotationMap = Annotated[
    dict[str, Annotated[str, Field(max_length=65536)]],
    Field(max_length=MAX_MAP_ENTRIES, json_schema_extra=_KEY_RULE),
    AfterValidator(_check_keys),
]
