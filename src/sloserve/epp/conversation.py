"""One ext_proc stream: the data plane's messages for one HTTP request and its response, and the
picker's answers, in the order the protocol requires (headers, body, trailers; each way).

Request path. The picker needs the body (the model, the prompt) before it can pick:

- full-duplex streaming (the inference extension's mode): the answer to the headers waits until
  the body has arrived (its last chunk, or the trailers); the picker then answers the headers
  with the endpoint and hands the body back unchanged, in chunks;
- buffered: the headers are let through at once, and the answer to the body carries the
  endpoint.

A request the scheduler queues is held here, the stream open and unanswered, until it is
dispatched; if the proxy gives up on it (the client went away), the stream is cancelled and the
request leaves the queue. A refusal is an immediate response with the gateway's status, JSON
body and headers (`Retry-After` on 429). Requests without a body, and bodies the proxy does not
send, cannot be scheduled: the first go to the least busy engine, the second are refused with a
message that says how to configure the proxy.

Response path. Headers, body chunks and trailers are passed through unchanged, with `x-slo-class`
and `x-request-id` added to the headers as the gateway adds them; `accounting` reads them to
settle the request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import grpc

from sloserve.epp import accounting, picker, protocol
from sloserve.gateway import classify, errors
from sloserve.gateway.serving import request_body

log = logging.getLogger(__name__)

_EOF: Any = grpc.aio.EOF


class ProtocolError(Exception):
    """The data plane sent what the protocol does not allow here."""


class Conversation:
    """Serves one `Process` stream. `request_body_mode` and `response_body_mode` are the modes
    the proxy is configured with, for proxies that do not announce them on the stream."""

    def __init__(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        *,
        endpoint_picker: picker.Picker,
        request_body_mode: protocol.BodyMode,
        response_body_mode: protocol.BodyMode,
        max_request_body_bytes: int,
    ) -> None:
        self._context = context
        self._picker = endpoint_picker
        self._request_mode = request_body_mode
        self._response_mode = response_body_mode
        self._max_body = max_request_body_bytes
        self._request_trailers = False

    async def run(self) -> None:
        first = await self._read()
        if first is None:
            return
        if protocol.kind(first) != "request_headers":
            raise ProtocolError(
                f"the stream began with {protocol.kind(first) or 'an empty message'}, not "
                "request_headers"
            )
        announced = protocol.protocol_modes(first)
        self._request_mode = announced.request_body or self._request_mode
        self._response_mode = announced.response_body or self._response_mode
        arrival_s = self._picker.clock.now()
        headers, without_body = protocol.headers(first)
        subset = protocol.subset_hint(first)
        if without_body:
            await self._pick_unscheduled(headers, b"", subset)
            return
        if self._request_mode not in (
            protocol.BodyMode.FULL_DUPLEX_STREAMED,
            protocol.BodyMode.BUFFERED,
        ):
            await self._answer_error(_unsupported_mode(self._request_mode))
            return
        if self._request_mode is protocol.BodyMode.BUFFERED:
            await self._write(protocol.continue_request_headers())
        chunks = await self._request_body()
        if chunks is None:
            return
        body = b"".join(chunks)
        if not picker.Picker.schedules(headers):
            await self._pick_unscheduled(headers, body, subset, chunks=chunks)
            return
        await self._pick_scheduled(headers, chunks, body, arrival_s, subset)

    async def _request_body(self) -> list[bytes] | None:
        """The body's chunks; None when the stream ended first, or the body was refused."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._read()
            if message is None:
                return None
            kind = protocol.kind(message)
            if kind == "request_trailers":
                self._request_trailers = True
                return chunks
            if kind != "request_body":
                raise ProtocolError(f"{kind} arrived before the request body ended")
            chunk, last = protocol.body(message)
            size += len(chunk)
            if size > self._max_body:
                await self._answer_error(request_body.too_large(self._max_body, None))
                return None
            chunks.append(chunk)
            if last or self._request_mode is protocol.BodyMode.BUFFERED:
                return chunks

    async def _pick_scheduled(
        self,
        headers: Mapping[str, str],
        chunks: list[bytes],
        body: bytes,
        arrival_s: float,
        subset: tuple[str, ...] | None,
    ) -> None:
        endpoint_picker = self._picker
        try:
            admitted = endpoint_picker.admit(
                headers=headers, body=body, arrival_s=arrival_s, subset=subset
            )
        except errors.GatewayError as error:
            await self._answer_error(error)
            return
        endpoint_picker.lifecycle.enter()
        account: accounting.ResponseAccount | None = None
        try:
            try:
                pick = await endpoint_picker.dispatched(admitted)
            except errors.GatewayError as error:
                await self._answer_error(error)
                return
            account = accounting.ResponseAccount(
                pick,
                current=admitted.current,
                holder=admitted.holder,
                picker_lifecycle=endpoint_picker.lifecycle,
            )
            request = admitted.current.request
            reply_headers = {
                "x-request-id": request.request_id,
                classify.CLASS_HEADER: request.slo_class.name,
            }
            await self._route(
                protocol.Route(
                    endpoint=pick.endpoint,
                    set_headers={"x-request-id": request.request_id},
                    remove_headers=self._picker.withheld_headers(),
                ),
                chunks,
            )
            await self._response(account, reply_headers)
        finally:
            if account is None:
                # Never dispatched (rejected, cancelled): the request ended in the picker.
                endpoint_picker.lifecycle.exit()
            elif not account.ended:
                account.cancel()

    async def _pick_unscheduled(
        self,
        headers: Mapping[str, str],
        body: bytes,
        subset: tuple[str, ...] | None,
        *,
        chunks: list[bytes] | None = None,
    ) -> None:
        try:
            pick = self._picker.unscheduled(headers=headers, body=body, subset=subset)
        except errors.GatewayError as error:
            await self._answer_error(error)
            return
        route = protocol.Route(
            endpoint=pick.endpoint, remove_headers=self._picker.withheld_headers()
        )
        if chunks is None:
            await self._write(protocol.routed_request_headers(route))
        else:
            await self._route(route, chunks)
        await self._response(None, {})

    async def _route(self, route: protocol.Route, chunks: Iterable[bytes]) -> None:
        """Send the request on its route, and its body on, as the request's body mode asks."""
        if self._request_mode is protocol.BodyMode.BUFFERED:
            await self._write(protocol.routed_request_body(route))
        else:
            await self._write(protocol.routed_request_headers(route))
            for answer in protocol.streamed_bodies(
                chunks, direction="request", end_of_stream=not self._request_trailers
            ):
                await self._write(answer)
        if self._request_trailers:
            await self._write(protocol.unchanged_trailers("request"))

    async def _response(
        self, account: accounting.ResponseAccount | None, reply_headers: dict[str, str]
    ) -> None:
        """Pass the response through until the stream ends, settling `account` at its end."""
        streamed = self._response_mode is protocol.BodyMode.FULL_DUPLEX_STREAMED
        while True:
            message = await self._read()
            if message is None:
                if account is not None:
                    account.cancel()
                return
            kind = protocol.kind(message)
            if kind == "request_trailers":
                await self._write(protocol.unchanged_trailers("request"))
            elif kind == "response_headers":
                headers, without_body = protocol.headers(message)
                if account is not None:
                    account.on_headers(
                        status=_status(headers),
                        content_type=headers.get("content-type", ""),
                        served=protocol.served_endpoint(message),
                    )
                await self._write(protocol.response_headers(reply_headers))
                body_follows = (
                    not without_body and self._response_mode is not protocol.BodyMode.NONE
                )
                if not body_follows and account is not None:
                    account.settle()
            elif kind == "response_body":
                chunk, last = protocol.body(message)
                if account is not None:
                    account.on_body(chunk)
                    # Settled before the end is handed back: once the client has it all, the
                    # request's accounting is closed too.
                    if last:
                        account.settle()
                if streamed:
                    for answer in protocol.streamed_bodies(
                        [chunk], direction="response", end_of_stream=last
                    ):
                        await self._write(answer)
                else:
                    await self._write(protocol.unchanged_body("response"))
            elif kind == "response_trailers":
                if account is not None:
                    account.settle()
                await self._write(protocol.unchanged_trailers("response"))
            else:
                raise ProtocolError(f"{kind} arrived on the response path")

    async def _answer_error(self, error: errors.GatewayError) -> None:
        body = json.dumps(error.body(), separators=(",", ":")).encode()
        reply = {"content-type": "application/json", **error.headers}
        await self._write(protocol.immediate(error.status, body, reply))

    async def _read(self) -> protocol.ProcessingRequest | None:
        message = await self._context.read()
        return None if message is _EOF else message

    async def _write(self, answer: protocol.ProcessingResponse) -> None:
        await self._context.write(answer)


def _status(headers: Mapping[str, str]) -> int | None:
    try:
        return int(headers.get(":status", ""))
    except ValueError:
        return None


def _unsupported_mode(mode: protocol.BodyMode) -> errors.GatewayError:
    return errors.GatewayError(
        status=500,
        message=f"the proxy sends request bodies to the endpoint picker in mode {mode.value}; "
        "it needs them to pick: configure the ext_proc filter with request_body_mode "
        "FULL_DUPLEX_STREAMED (or BUFFERED)",
        error_type="internal_error",
        code="endpoint_picker_misconfigured",
    )
