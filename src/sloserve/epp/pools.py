"""InferencePools and their pods, read into the engines of a ModelService. Pure functions.

An InferencePool (`inference.networking.k8s.io/v1`, the Gateway API inference extension's API as
published in its v1.x releases) selects model-server pods by labels in its own namespace and
names the ports they serve on; every ready pod at every target port is one endpoint (`ip:port`).
The picker serves a pool for the ModelService its label `sloserve.io/modelservice` names, in the
pool's namespace: the operator puts that label on the pools it creates; a pool made by hand
carries it too to be served. A pod is ready when its Ready condition is true and it is not being
deleted (a terminating pod takes no new requests, as an EndpointSlice would say).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sloserve.builders import labels

GROUP = "inference.networking.k8s.io"
VERSION = "v1"
PLURAL = "inferencepools"
MODEL_SERVICE_LABEL = labels.MODEL_SERVICE


@dataclass(frozen=True)
class Pool:
    """What the picker reads from an InferencePool."""

    namespace: str
    name: str
    modelservice: str | None
    selector: Mapping[str, str]
    ports: tuple[int, ...]


@dataclass(frozen=True)
class Pod:
    """A pod as far as pool membership goes; `address` None while it cannot take requests."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    address: str | None


def key_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def read_pool(obj: Mapping[str, Any]) -> Pool:
    """The pool an InferencePool object (as the API returns it) describes; raises ValueError
    naming the pool and the field when its spec cannot be served."""
    namespace, name = key_of(obj)
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    where = f"InferencePool {namespace}/{name}"
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if not isinstance(selector, Mapping) or not selector:
        raise ValueError(f"{where}: spec.selector.matchLabels must name at least one label")
    ports = tuple(
        int(port["number"])
        for port in spec.get("targetPorts") or []
        if isinstance(port, Mapping) and isinstance(port.get("number"), int)
    )
    if not ports:
        raise ValueError(f"{where}: spec.targetPorts must list at least one port number")
    owner = (metadata.get("labels") or {}).get(MODEL_SERVICE_LABEL)
    return Pool(
        namespace=namespace,
        name=name,
        modelservice=str(owner) if owner else None,
        selector={str(key): str(value) for key, value in selector.items()},
        ports=ports,
    )


def read_pod(obj: Mapping[str, Any]) -> Pod:
    namespace, name = key_of(obj)
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    ready = any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in status.get("conditions") or []
    )
    address = status.get("podIP") or None
    serving = ready and address is not None and not metadata.get("deletionTimestamp")
    return Pod(
        namespace=namespace,
        name=name,
        labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
        address=str(address) if serving else None,
    )


def engine_urls(pool: Pool, pods: Iterable[Pod]) -> tuple[str, ...]:
    """Base URLs of the pool's endpoints: each ready pod it selects, at each target port."""
    urls: set[str] = set()
    for pod in pods:
        if pod.namespace != pool.namespace or pod.address is None:
            continue
        if any(pod.labels.get(key) != value for key, value in pool.selector.items()):
            continue
        host = f"[{pod.address}]" if ":" in pod.address else pod.address
        urls.update(f"http://{host}:{port}" for port in pool.ports)
    return tuple(sorted(urls))
