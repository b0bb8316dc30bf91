"""Reading ModelServices and EndpointSlices into what the datastore holds. Pure functions.

Engines are found through the EndpointSlices of each ModelService's engine Service: the operator
labels that Service `sloserve.io/modelservice=<name>`, and Kubernetes copies a Service's labels
onto its slices. An endpoint takes new requests when it is neither terminating nor marked not
ready or not serving (Kubernetes says an unset condition is to be read as true, and `terminating`
as false): the moment an engine pod starts to terminate (scale-down, rollout, node drain) its
endpoint turns `terminating` while it still serves, and the gateway stops sending it new requests
while the ones it holds finish. Its port is the slice's port named `http`, else its only port.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

from sloserve.api import engine_flags, spec
from sloserve.builders import engine_pod, labels
from sloserve.gateway import datastore, definitions, tokenizer_source

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
    source = model_spec.tokenizer
    return dataclasses.replace(
        definitions.from_spec(model_spec),
        max_num_seqs=max_num_seqs(args),
        max_model_len=engine_flag(args, "--max-model-len"),
        tokenizer=None
        if source is None
        else tokenizer_source.TokenizerRef(
            owner=f"ModelService {key.namespace}/{key.name}",
            namespace=key.namespace,
            path=source.path,
            config_map=None if source.config_map is None else source.config_map.name,
        ),
        desired_replicas=model_spec.replicas,
        start_time_s=measured_start_s(obj),
    )


def measured_start_s(obj: Mapping[str, Any]) -> float | None:
    """The engine start time the operator measured for a ModelService
    (`status.autoscaling.startSeconds`); None when it has not measured one or the figure is not
    a non-negative number."""
    status = obj.get("status") or {}
    autoscaling = status.get("autoscaling") if isinstance(status, Mapping) else None
    value = autoscaling.get("startSeconds") if isinstance(autoscaling, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        return None
    return float(value)


def max_num_seqs(args: Sequence[str]) -> int:
    """The engines' `--max-num-seqs`, from their arguments (vLLM's default when unset)."""
    found = engine_flag(args, "--max-num-seqs")
    return _DEFAULT_MAX_NUM_SEQS if found is None else found


def engine_flag(args: Sequence[str], flag: str) -> int | None:
    """The positive whole number an engine argument `flag` is given (`--flag N` or
    `--flag=N`, the last one winning as in vLLM's parser), None when it is not given."""
    value = engine_flags.flag_value(args, (flag,))
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
    """Base URLs of the endpoints of an EndpointSlice (a dict in the API's camelCase) that take
    new requests."""
    port = _engine_port(obj.get("ports") or [])
    if port is None:
        return ()
    ipv6 = obj.get("addressType") == "IPv6"
    urls = []
    for endpoint in obj.get("endpoints") or []:
        if not takes_new_requests(endpoint.get("conditions") or {}):
            continue
        for address in (endpoint.get("addresses") or [])[:1]:
            host = f"[{address}]" if ipv6 else address
            urls.append(f"http://{host}:{port}")
    return tuple(sorted(urls))


def takes_new_requests(conditions: Mapping[str, Any]) -> bool:
    """Whether an endpoint with these EndpointSlice `conditions` may be sent new requests: not
    `terminating`, and neither `ready` nor `serving` false. (A Service that publishes
    not-ready addresses keeps `ready` true on a terminating endpoint; `terminating` still
    holds it back.)"""
    if conditions.get("terminating") is True:
        return False
    return conditions.get("ready") is not False and conditions.get("serving") is not False


def _engine_port(ports: Sequence[Mapping[str, Any]]) -> int | None:
    numbered = [port for port in ports if isinstance(port.get("port"), int)]
    for port in numbered:
        if port.get("name") == engine_pod.PORT_NAME:
            return int(port["port"])
    return int(numbered[0]["port"]) if len(numbered) == 1 else None
