"""The endpoint picker protocol over Envoy's ext_proc v3 messages: reading what the data plane
sends and building what the picker answers.

The names are the Gateway API inference extension's (its endpoint picker protocol, v1.0.0):

- the picked endpoint, `ip:port`, goes back both as the request header
  `x-gateway-destination-endpoint` and as dynamic metadata under `envoy.lb`, the same value in
  both places, with the route cache cleared so that the proxy routes on it;
- the data plane may restrict the choice with a list under `envoy.lb.subset_hint` →
  `x-gateway-destination-endpoint-subset` in the request's metadata (a list of `ip:port`, or one
  comma-separated string, as some proxies write it);
- on the response path it names the endpoint that served under `envoy.lb` →
  `x-gateway-destination-endpoint-served`.

The messages come from the `xds-protos` package (generated from Envoy's data-plane API), which
has no type information: this module keeps them behind typed functions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2
from google.protobuf import struct_pb2

DESTINATION_HEADER = "x-gateway-destination-endpoint"
DESTINATION_NAMESPACE = "envoy.lb"
SUBSET_NAMESPACE = "envoy.lb.subset_hint"
SUBSET_KEY = "x-gateway-destination-endpoint-subset"
SERVED_KEY = "x-gateway-destination-endpoint-served"
FAIRNESS_HEADER = "x-gateway-inference-fairness-id"

# Some proxies limit a streamed body chunk to 64 KiB; answers stay below that.
BODY_CHUNK_BYTES = 62_000

ProcessingRequest = Any
"""`envoy.service.ext_proc.v3.ProcessingRequest` (the generated class carries no types)."""
ProcessingResponse = Any
"""`envoy.service.ext_proc.v3.ProcessingResponse`."""

_pb: Any = external_processor_pb2
_core: Any = base_pb2
_struct: Any = struct_pb2
_BodySendMode: Any = processing_mode_pb2.ProcessingMode.BodySendMode
_OVERWRITE = _core.HeaderValueOption.HeaderAppendAction.Value("OVERWRITE_IF_EXISTS_OR_ADD")


class BodyMode(enum.StrEnum):
    """How the data plane sends a body (ext_proc's BodySendMode), as far as the picker takes it."""

    NONE = "none"
    STREAMED = "streamed"
    BUFFERED = "buffered"
    FULL_DUPLEX_STREAMED = "full_duplex_streamed"
    UNSUPPORTED = "unsupported"


_BODY_MODES = {
    _BodySendMode.Value("NONE"): BodyMode.NONE,
    _BodySendMode.Value("STREAMED"): BodyMode.STREAMED,
    _BodySendMode.Value("BUFFERED"): BodyMode.BUFFERED,
    _BodySendMode.Value("FULL_DUPLEX_STREAMED"): BodyMode.FULL_DUPLEX_STREAMED,
}


@dataclass(frozen=True)
class ProtocolModes:
    """The body modes the data plane says it runs in (`protocol_config`, on the first message
    of newer proxies); None where it does not say."""

    request_body: BodyMode | None
    response_body: BodyMode | None


def kind(message: ProcessingRequest) -> str:
    """Which part of the HTTP exchange a message carries: `request_headers`, `request_body`,
    `request_trailers`, `response_headers`, `response_body` or `response_trailers`."""
    which: str | None = message.WhichOneof("request")
    return which or ""


def protocol_modes(message: ProcessingRequest) -> ProtocolModes:
    if not message.HasField("protocol_config"):
        return ProtocolModes(request_body=None, response_body=None)
    config = message.protocol_config
    return ProtocolModes(
        request_body=_BODY_MODES.get(config.request_body_mode, BodyMode.UNSUPPORTED),
        response_body=_BODY_MODES.get(config.response_body_mode, BodyMode.UNSUPPORTED),
    )


def headers(message: ProcessingRequest) -> tuple[dict[str, str], bool]:
    """The headers of a `request_headers` or `response_headers` message, lower-cased names to
    values (repeated headers joined with commas, as HTTP allows), and whether no body follows."""
    part = (
        message.request_headers if kind(message) == "request_headers" else message.response_headers
    )
    values: dict[str, str] = {}
    for header in part.headers.headers:
        raw: bytes = header.raw_value
        value = raw.decode("utf-8", "replace") if raw else str(header.value)
        name = str(header.key).lower()
        values[name] = f"{values[name]},{value}" if name in values else value
    return values, bool(part.end_of_stream)


def body(message: ProcessingRequest) -> tuple[bytes, bool]:
    """The chunk of a `request_body` or `response_body` message, and whether it is the last."""
    part = message.request_body if kind(message) == "request_body" else message.response_body
    chunk: bytes = part.body
    return chunk, bool(part.end_of_stream or part.end_of_stream_without_message)


def filter_metadata(message: ProcessingRequest, namespace: str) -> dict[str, Any]:
    """One namespace of the message's `metadata_context.filter_metadata`, as plain values."""
    if not message.HasField("metadata_context"):
        return {}
    found = message.metadata_context.filter_metadata.get(namespace)
    if found is None:
        return {}
    return {key: _plain(value) for key, value in found.fields.items()}


def subset_hint(message: ProcessingRequest) -> tuple[str, ...] | None:
    """The endpoints (`ip:port`, or a bare IP for every port of it) the data plane allows, or
    None when it sets no hint (every endpoint of the pool is allowed). An empty tuple allows
    none."""
    entries = filter_metadata(message, SUBSET_NAMESPACE)
    if SUBSET_KEY not in entries:
        return None
    raw = entries[SUBSET_KEY]
    items = raw if isinstance(raw, list) else [raw]
    return tuple(
        part.strip()
        for item in items
        if isinstance(item, str)
        for part in item.split(",")
        if part.strip()
    )


def served_endpoint(message: ProcessingRequest) -> str | None:
    """The endpoint the data plane says served the request, when it says."""
    value = filter_metadata(message, DESTINATION_NAMESPACE).get(SERVED_KEY)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _plain(value: Any) -> Any:
    which = value.WhichOneof("kind")
    if which == "list_value":
        return [_plain(item) for item in value.list_value.values]
    if which == "struct_value":
        return {key: _plain(item) for key, item in value.struct_value.fields.items()}
    if which == "null_value" or which is None:
        return None
    return getattr(value, which)


# What the picker sends back.


def _header_mutation(values: Mapping[str, str], remove: Iterable[str] = ()) -> Any:
    return _pb.HeaderMutation(
        remove_headers=list(remove),
        set_headers=[
            _core.HeaderValueOption(
                header=_core.HeaderValue(key=name, raw_value=value.encode()),
                append_action=_OVERWRITE,
            )
            for name, value in values.items()
        ],
    )


def _destination_metadata(endpoint: str) -> Any:
    metadata = _struct.Struct()
    metadata.update({DESTINATION_NAMESPACE: {DESTINATION_HEADER: endpoint}})
    return metadata


@dataclass(frozen=True)
class Route:
    """Where a request goes, and what changes in its headers on the way: `set_headers` added
    (or replaced), `remove_headers` taken out."""

    endpoint: str
    set_headers: Mapping[str, str] = field(default_factory=dict)
    remove_headers: tuple[str, ...] = ()


def _routing(route: Route) -> Any:
    """The common part of an answer that routes the request to `route.endpoint`."""
    return _pb.CommonResponse(
        header_mutation=_header_mutation(
            {DESTINATION_HEADER: route.endpoint, **route.set_headers}, route.remove_headers
        ),
        clear_route_cache=True,
    )


def routed_request_headers(route: Route) -> ProcessingResponse:
    """The answer to the request headers that sends the request on its route (full-duplex
    streaming, and requests without a body)."""
    return _pb.ProcessingResponse(
        request_headers=_pb.HeadersResponse(response=_routing(route)),
        dynamic_metadata=_destination_metadata(route.endpoint),
    )


def routed_request_body(route: Route) -> ProcessingResponse:
    """The answer to a buffered request body that sends the request on its route."""
    return _pb.ProcessingResponse(
        request_body=_pb.BodyResponse(response=_routing(route)),
        dynamic_metadata=_destination_metadata(route.endpoint),
    )


def continue_request_headers() -> ProcessingResponse:
    """Carry on unchanged: the answer to request headers when the body decides (buffered)."""
    return _pb.ProcessingResponse(request_headers=_pb.HeadersResponse())


def streamed_bodies(
    chunks: Iterable[bytes], *, direction: str, end_of_stream: bool
) -> Iterator[ProcessingResponse]:
    """Full-duplex streaming answers handing a body back to the data plane (the picker leaves
    it unchanged), in chunks under `BODY_CHUNK_BYTES`; `direction` is `request` or `response`.
    The last carries `end_of_stream` as given; with no bytes at all, one empty chunk does."""
    pieces = [
        chunk[start : start + BODY_CHUNK_BYTES]
        for chunk in chunks
        for start in range(0, len(chunk), BODY_CHUNK_BYTES)
    ] or [b""]
    for index, piece in enumerate(pieces):
        common = _pb.CommonResponse(
            body_mutation=_pb.BodyMutation(
                streamed_response=_pb.StreamedBodyResponse(
                    body=piece, end_of_stream=end_of_stream and index == len(pieces) - 1
                )
            )
        )
        yield _pb.ProcessingResponse(**{f"{direction}_body": _pb.BodyResponse(response=common)})


def unchanged_body(direction: str) -> ProcessingResponse:
    """The answer to a buffered body: unchanged."""
    return _pb.ProcessingResponse(**{f"{direction}_body": _pb.BodyResponse()})


def unchanged_trailers(direction: str) -> ProcessingResponse:
    return _pb.ProcessingResponse(**{f"{direction}_trailers": _pb.TrailersResponse()})


def response_headers(extra_headers: Mapping[str, str]) -> ProcessingResponse:
    """The answer to the response headers, adding `extra_headers` to what the client gets."""
    common = _pb.CommonResponse(header_mutation=_header_mutation(extra_headers))
    return _pb.ProcessingResponse(response_headers=_pb.HeadersResponse(response=common))


def immediate(status: int, body: bytes, response_headers: Mapping[str, str]) -> ProcessingResponse:
    """Answer the client at once with `status`, `body` and headers; the request goes nowhere."""
    answer = _pb.ImmediateResponse(body=body, headers=_header_mutation(response_headers))
    answer.status.code = status
    return _pb.ProcessingResponse(immediate_response=answer)
