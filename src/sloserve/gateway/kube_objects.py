"""Reading ModelServices and EndpointSlices into what the datastore holds. Pure functions.

Engines are found through the EndpointSlices of each ModelService's engine Service: the operator
labels that Service `sloserve.io/modelservice=<name>`, and Kubernetes copies a Service's labels
onto its slices. An endpoint is an engine when it is not marked unready (Kubernetes says an unset
`ready` is to be read as ready); its port is the slice's port named `http`, else its only port.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

from sloserve.api import spec
from sloserve.builders import engine_pod, labels
from sloserve.gateway import datastore, definitions

MODEL_SERVICE_LABEL = labels.MODEL_SERVICE
_DEFAULT_MAX_NUM_SEQS = 256


def modelservice_key(obj: Mapping[str, Any]) -> datastore.SourceKey:
    metadata = obj.get("metadata") or {}
    return datastore.SourceKey(
        namespace=metadata.get("namespace", ""), name=metadata.get("name", "")
    )


def modelservice_definition(obj: Mapping[str, Any]) -> datastore.ModelDefinition:
    """The model a ModelService object (as the API returns it) defines; raises ValueError naming
    the object when its spec does not validate."""
    key = modelservice_key(obj)
    try:
        model_spec = spec.ModelServiceSpec.model_validate(obj.get("spec") or {})
    except pydantic.ValidationError as error:
        raise ValueError(f"ModelService {key.namespace}/{key.name}: {error}") from error
    args = model_spec.engine.args
    return dataclasses.replace(
        definitions.from_spec(model_spec),
        max_num_seqs=max_num_seqs(args),
        max_model_len=engine_flag(args, "--max-model-len"),
    )


def max_num_seqs(args: Sequence[str]) -> int:
    """The engines' `--max-num-seqs`, from their arguments (vLLM's default when unset)."""
    found = engine_flag(args, "--max-num-seqs")
    return _DEFAULT_MAX_NUM_SEQS if found is None else found


def engine_flag(args: Sequence[str], flag: str) -> int | None:
    """The positive whole number an engine argument `flag` is given (`--flag N` or
    `--flag=N`), None when it is not given."""
    for index, arg in enumerate(args):
        value: str | None = None
        if arg.startswith(f"{flag}="):
            value = arg.split("=", 1)[1]
        elif arg == flag and index + 1 < len(args):
            value = args[index + 1]
        if value is not None and value.isdigit() and int(value) > 0:
            return int(value)
    return None


def slice_owner(obj: Mapping[str, Any]) -> tuple[datastore.SourceKey, str] | None:
    """The ModelService an EndpointSlice belongs to, and the slice's name; None if unlabelled."""
    metadata = obj.get("metadata") or {}
    owner = (metadata.get("labels") or {}).get(MODEL_SERVICE_LABEL)
    if not owner:
        return None
    key = datastore.SourceKey(namespace=metadata.get("namespace", ""), name=owner)
    return key, metadata.get("name", "")


def slice_engine_urls(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """Base URLs of the ready endpoints of an EndpointSlice (as a dict in the API's camelCase)."""
    port = _engine_port(obj.get("ports") or [])
    if port is None:
        return ()
    ipv6 = obj.get("addressType") == "IPv6"
    urls = []
    for endpoint in obj.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        if conditions.get("ready") is False:
            continue
        for address in (endpoint.get("addresses") or [])[:1]:
            host = f"[{address}]" if ipv6 else address
            urls.append(f"http://{host}:{port}")
    return tuple(sorted(urls))


def _engine_port(ports: Sequence[Mapping[str, Any]]) -> int | None:
    numbered = [port for port in ports if isinstance(port.get("port"), int)]
    for port in numbered:
        if port.get("name") == engine_pod.PORT_NAME:
            return int(port["port"])
    return int(numbered[0]["port"]) if len(numbered) == 1 else None
