"""Values the downward API exposes to a container: pod fields and resource amounts."""

from __future__ import annotations

import dataclasses
import decimal
import math
import re
from collections.abc import Mapping

from sloserve.dev.kubelet import api

_SUFFIXES: dict[str, decimal.Decimal] = {
    "": decimal.Decimal(1),
    "m": decimal.Decimal("0.001"),
    "k": decimal.Decimal(10**3),
    "M": decimal.Decimal(10**6),
    "G": decimal.Decimal(10**9),
    "T": decimal.Decimal(10**12),
    "P": decimal.Decimal(10**15),
    "E": decimal.Decimal(10**18),
    "Ki": decimal.Decimal(2**10),
    "Mi": decimal.Decimal(2**20),
    "Gi": decimal.Decimal(2**30),
    "Ti": decimal.Decimal(2**40),
    "Pi": decimal.Decimal(2**50),
    "Ei": decimal.Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


class FieldError(ValueError):
    """A field path or resource the downward API does not offer; the message names it."""


def parse_quantity(text: str) -> decimal.Decimal:
    """A Kubernetes quantity such as `500m`, `2`, `16Gi` as a number."""
    match = _QUANTITY.match(text.strip())
    if match is None or match.group(2) not in _SUFFIXES:
        raise FieldError(f"{text!r} is not a Kubernetes quantity")
    return decimal.Decimal(match.group(1)) * _SUFFIXES[match.group(2)]


@dataclasses.dataclass(frozen=True)
class PodFacts:
    """What the kubelet knows of a pod beyond its manifest."""

    pod: api.JsonObject
    pod_ip: str
    host_ip: str


def _format_map(values: Mapping[str, str]) -> str:
    return "\n".join(f'{key}="{value}"' for key, value in sorted(values.items()))


def field_value(facts: PodFacts, field_path: str) -> str:
    """The value of `fieldRef.fieldPath`."""
    metadata = facts.pod.get("metadata", {})
    spec = facts.pod.get("spec", {})
    for prefix, source in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        values: dict[str, str] = metadata.get(source) or {}
        if field_path == prefix:
            return _format_map(values)
        if field_path.startswith(f"{prefix}['") and field_path.endswith("']"):
            return values.get(field_path[len(prefix) + 2 : -2], "")
    simple = {
        "metadata.name": metadata.get("name", ""),
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": facts.pod_ip,
        "status.podIPs": facts.pod_ip,
        "status.hostIP": facts.host_ip,
        "status.hostIPs": facts.host_ip,
    }
    if field_path not in simple:
        raise FieldError(f"fieldRef.fieldPath {field_path!r} is not supported by the downward API")
    return str(simple[field_path])


def resource_value(
    *,
    container: api.JsonObject,
    resource: str,
    divisor: str | None,
    node_allocatable: Mapping[str, str],
) -> str:
    """The value of `resourceFieldRef`: the container's limit or request of `resource` divided
    by `divisor` and rounded up; a missing limit reads as the node's allocatable amount."""
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name:
        raise FieldError(f"resourceFieldRef.resource {resource!r} is not limits.* or requests.*")
    amounts: dict[str, str] = (container.get("resources") or {}).get(kind) or {}
    raw = amounts.get(name)
    if raw is None:
        raw = node_allocatable.get(name) if kind == "limits" else "0"
    if raw is None:
        raise FieldError(f"resourceFieldRef.resource {resource!r}: no such resource on the node")
    value = parse_quantity(str(raw)) / parse_quantity(divisor or "1")
    return str(math.ceil(value))
