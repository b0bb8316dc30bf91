"""Sending one request to one engine, up to the point where the client can be answered.

A request counts as failed *before its first byte* (and may be retried elsewhere) when the engine
cannot be reached, answers 5xx, or closes the stream before sending anything. For a stream, the
first chunk is read before the gateway commits its own 200, so that an engine dying during the
prefill is still a retryable failure; the client's time to first token is unchanged, since that
chunk is forwarded at once. A 4xx answer is the engine judging the request itself and goes back to
the client unchanged.

Errors from the network are httpx's, whichever transport carries the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from sloserve.gateway.upstream import engine_link

_FORWARDED_HEADERS = ("content-type", "accept", "x-request-id", "traceparent", "tracestate")


class EngineFailedError(Exception):
    """The engine failed the request before sending any of its output; safe to retry elsewhere."""

    def __init__(self, engine_url: str, reason: str) -> None:
        super().__init__(f"engine {engine_url} failed: {reason}")
        self.engine_url = engine_url
        self.reason = reason


class EngineReply(Protocol):
    """An engine's answer whose body has not been read yet; it must be closed."""

    @property
    def status(self) -> int: ...

    @property
    def content_type(self) -> str | None: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; raises httpx errors."""
        ...

    async def close(self) -> None:
        """Release the connection; for an unfinished body this aborts the request at the
        engine."""
        ...


@dataclass(frozen=True)
class CompleteAnswer:
    """A whole (non-streamed) answer, or an engine's 4xx, to pass back as it is."""

    status: int
    body: bytes
    content_type: str


@dataclass(eq=False)
class OpenStream:
    """A stream that has produced its first chunk; `rest` yields the remaining raw chunks."""

    reply: EngineReply
    first_chunk: bytes
    rest: AsyncIterator[bytes]

    async def close(self) -> None:
        """Close the connection; for an unfinished stream this aborts the request at the engine."""
        await self.reply.close()

    async def finish(self, *, timeout_s: float) -> None:
        """Read what is left of a stream whose answer is complete, so that its connection goes
        back to the pool, then close it. A connection that fails, or does not end its body within
        `timeout_s`, is closed instead."""
        try:
            async with asyncio.timeout(timeout_s):
                async for _ in self.rest:
                    pass
        except (TimeoutError, httpx.HTTPError, httpx.StreamError):
            pass
        await self.reply.close()


class EngineCaller:
    """Sends the gateway's generation requests to engines, as a proxy must: no redirects
    followed, no cookies kept (an engine's cookie must never reach another tenant's request),
    nothing added. Plain-HTTP engines are reached through `engine_link` (the lean client on the
    critical path of every request); anything else, and every engine when tests replace the
    network with an httpx transport, through that transport directly, without
    `httpx.AsyncClient`'s per-request handling of redirects, cookies and authentication."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        transport: httpx.AsyncBaseTransport,
        link: engine_link.EngineLink | None,
    ) -> None:
        self._transport = transport
        self._link = link
        self._extensions = {"timeout": client.timeout.as_dict()}

    async def post(
        self, engine_url: str, path: str, *, body: bytes, headers: Mapping[str, str]
    ) -> EngineReply:
        """The engine's reply with its body not yet read; the caller must close it."""
        if self._link is not None and self._link.handles(engine_url):
            return await self._link.post(engine_url + path, body=body, headers=headers)
        request = httpx.Request(
            "POST",
            engine_url + path,
            headers=headers,
            content=body,
            extensions=self._extensions,
        )
        return _HttpxReply(await self._transport.handle_async_request(request))


class _HttpxReply:
    """A reply from any httpx transport (tests use `httpx.MockTransport`)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.content_type = response.headers.get("content-type")

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._response.is_stream_consumed:
            # A transport that read the whole body already (as `httpx.MockTransport` does).
            yield self._response.content
            return
        async for chunk in self._response.aiter_raw():
            yield chunk

    async def close(self) -> None:
        await self._response.aclose()


def forwarded_headers(client_headers: Mapping[str, str], request_id: str) -> dict[str, str]:
    """Headers an engine should see: the body's type, tracing and our request id.

    The client's API key is the gateway's business and is never sent on.
    """
    headers = {name: client_headers[name] for name in _FORWARDED_HEADERS if name in client_headers}
    headers["x-request-id"] = request_id
    return headers


async def fetch_whole(
    engines: EngineCaller,
    *,
    engine_url: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
) -> CompleteAnswer:
    """POST and read the whole answer; raises EngineFailedError when it may be retried."""
    try:
        reply = await engines.post(engine_url, path, body=body, headers=headers)
        try:
            content = await _read_all(reply)
        finally:
            await reply.close()
    except httpx.HTTPError as error:
        raise EngineFailedError(engine_url, _describe(error)) from error
    if reply.status >= 500:
        raise EngineFailedError(engine_url, f"HTTP {reply.status}")
    return CompleteAnswer(
        status=reply.status,
        body=content,
        content_type=reply.content_type or "application/json",
    )


async def open_stream(
    engines: EngineCaller,
    *,
    engine_url: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
) -> OpenStream | CompleteAnswer:
    """POST a streaming request and wait for its first chunk.

    Returns the open stream, or the engine's complete 4xx answer; raises EngineFailedError when the
    request may be retried. The caller must `close()` a returned stream.
    """
    try:
        reply = await engines.post(engine_url, path, body=body, headers=headers)
    except httpx.HTTPError as error:
        raise EngineFailedError(engine_url, _describe(error)) from error
    try:
        if reply.status >= 400:
            content = await _read_all(reply)
            await reply.close()
            if reply.status >= 500:
                raise EngineFailedError(engine_url, f"HTTP {reply.status}")
            return CompleteAnswer(
                status=reply.status,
                body=content,
                content_type=reply.content_type or "application/json",
            )
        chunks = reply.chunks()
        first_chunk = await _first_non_empty(chunks)
    except httpx.HTTPError as error:
        await reply.close()
        raise EngineFailedError(engine_url, _describe(error)) from error
    except BaseException:
        await reply.close()
        raise
    if first_chunk is None:
        await reply.close()
        raise EngineFailedError(engine_url, "the stream ended before any output")
    return OpenStream(reply=reply, first_chunk=first_chunk, rest=chunks)


async def _read_all(reply: EngineReply) -> bytes:
    return b"".join([chunk async for chunk in reply.chunks()])


async def _first_non_empty(chunks: AsyncIterator[bytes]) -> bytes | None:
    async for chunk in chunks:
        if chunk:
            return chunk
    return None


def _describe(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
