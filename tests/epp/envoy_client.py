"""A gRPC client that plays Envoy's side of the ext_proc protocol, message by message.

It sends what Envoy's ext_proc filter sends for one HTTP request (request headers with the
route's metadata, body chunks, end of stream or trailers, then the response headers with the
served endpoint, response body chunks, trailers) and lets a test read each answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2, external_processor_pb2_grpc
from google.protobuf import json_format, struct_pb2

pb: Any = external_processor_pb2
core: Any = base_pb2
BodySendMode: Any = processing_mode_pb2.ProcessingMode.BodySendMode

COMPLETIONS = "/v1/completions"
CHAT = "/v1/chat/completions"


def header_map(headers: Mapping[str, str]) -> Any:
    return core.HeaderMap(
        headers=[
            core.HeaderValue(key=key, raw_value=value.encode()) for key, value in headers.items()
        ]
    )


def metadata(namespaces: Mapping[str, Mapping[str, Any]]) -> Any:
    found = core.Metadata()
    for namespace, values in namespaces.items():
        entry = struct_pb2.Struct()
        entry.update(dict(values))
        found.filter_metadata[namespace].CopyFrom(entry)
    return found


def request_headers(
    *,
    path: str = COMPLETIONS,
    method: str = "POST",
    extra: Mapping[str, str] | None = None,
    end_of_stream: bool = False,
) -> dict[str, str]:
    return {
        ":method": method,
        ":path": path,
        ":authority": "inference.example",
        ":scheme": "http",
        "content-type": "application/json",
        **(extra or {}),
    }


@dataclass
class Answer:
    """One ProcessingResponse, read back into plain values."""

    message: Any

    @property
    def kind(self) -> str:
        return str(self.message.WhichOneof("response"))

    def common(self) -> Any:
        part = getattr(self.message, self.kind)
        return part.response if part.HasField("response") else None

    def set_headers(self) -> dict[str, str]:
        if self.kind == "immediate_response":
            mutation = self.message.immediate_response.headers
        elif self.kind.endswith("_trailers"):
            mutation = getattr(self.message, self.kind).header_mutation
        else:
            common = self.common()
            if common is None:
                return {}
            mutation = common.header_mutation
        return {
            option.header.key: option.header.raw_value.decode() or option.header.value
            for option in mutation.set_headers
        }

    def removed_headers(self) -> list[str]:
        common = self.common()
        return list(common.header_mutation.remove_headers) if common is not None else []

    def dynamic_metadata(self) -> dict[str, Any]:
        if not self.message.HasField("dynamic_metadata"):
            return {}
        return dict(json_format.MessageToDict(self.message.dynamic_metadata))

    def streamed_body(self) -> tuple[bytes, bool]:
        streamed = self.common().body_mutation.streamed_response
        return bytes(streamed.body), bool(streamed.end_of_stream)

    @property
    def status(self) -> int:
        return int(self.message.immediate_response.status.code)

    @property
    def body(self) -> bytes:
        return bytes(self.message.immediate_response.body)


class EnvoyStream:
    """One `Process` stream, as Envoy's filter drives it for one HTTP request."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.call: Any = external_processor_pb2_grpc.ExternalProcessorStub(channel).Process()

    async def request_headers(
        self,
        headers: Mapping[str, str],
        *,
        end_of_stream: bool = False,
        subset: Sequence[str] | str | None = None,
        request_body_mode: str | None = None,
        response_body_mode: str | None = None,
    ) -> None:
        message = pb.ProcessingRequest(
            request_headers=pb.HttpHeaders(headers=header_map(headers), end_of_stream=end_of_stream)
        )
        if subset is not None:
            hint = subset if isinstance(subset, str) else list(subset)
            message.metadata_context.CopyFrom(
                metadata({"envoy.lb.subset_hint": {"x-gateway-destination-endpoint-subset": hint}})
            )
        if request_body_mode is not None or response_body_mode is not None:
            message.protocol_config.CopyFrom(
                pb.ProtocolConfiguration(
                    request_body_mode=BodySendMode.Value(request_body_mode or "NONE"),
                    response_body_mode=BodySendMode.Value(response_body_mode or "NONE"),
                )
            )
        await self.call.write(message)

    async def request_body(self, chunk: bytes, *, end_of_stream: bool) -> None:
        await self.call.write(
            pb.ProcessingRequest(request_body=pb.HttpBody(body=chunk, end_of_stream=end_of_stream))
        )

    async def request_trailers(self) -> None:
        await self.call.write(pb.ProcessingRequest(request_trailers=pb.HttpTrailers()))

    async def response_headers(
        self,
        *,
        status: int = 200,
        content_type: str = "text/event-stream",
        served: str | None = None,
        end_of_stream: bool = False,
    ) -> None:
        message = pb.ProcessingRequest(
            response_headers=pb.HttpHeaders(
                headers=header_map({":status": str(status), "content-type": content_type}),
                end_of_stream=end_of_stream,
            )
        )
        if served is not None:
            message.metadata_context.CopyFrom(
                metadata({"envoy.lb": {"x-gateway-destination-endpoint-served": served}})
            )
        await self.call.write(message)

    async def response_body(self, chunk: bytes, *, end_of_stream: bool) -> None:
        await self.call.write(
            pb.ProcessingRequest(response_body=pb.HttpBody(body=chunk, end_of_stream=end_of_stream))
        )

    async def response_trailers(self) -> None:
        await self.call.write(pb.ProcessingRequest(response_trailers=pb.HttpTrailers()))

    async def answer(self, timeout_s: float = 5.0) -> Answer:
        message = await asyncio.wait_for(self.call.read(), timeout=timeout_s)
        assert message is not grpc.aio.EOF, "the picker ended the stream"
        return Answer(message)

    async def body_back(self, kind: str = "request_body") -> bytes:
        """The body the picker hands back, chunk by chunk up to its end of stream."""
        pieces = []
        while True:
            answer = await self.answer()
            assert answer.kind == kind, f"expected {kind}, got {answer.kind}"
            chunk, last = answer.streamed_body()
            pieces.append(chunk)
            if last:
                return b"".join(pieces)

    async def ended(self, timeout_s: float = 5.0) -> grpc.StatusCode:
        """Half-close (Envoy is done) and wait for the picker to end the stream."""
        await self.call.done_writing()
        message = await asyncio.wait_for(self.call.read(), timeout=timeout_s)
        assert message is grpc.aio.EOF, f"unexpected answer {message}"
        code: grpc.StatusCode = await self.call.code()
        return code

    def cancel(self) -> None:
        self.call.cancel()
