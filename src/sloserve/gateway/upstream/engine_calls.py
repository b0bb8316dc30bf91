"""Sending one request to one engine, up to the point where the client can be answered.

A request counts as failed *before its first byte* (and may be retried elsewhere) when the engine
cannot be reached, answers 5xx, or closes the stream before sending anything. For a stream, the
first chunk is read before the gateway commits its own 200, so that an engine dying during the
prefill is still a retryable failure; the client's time to first token is unchanged, since that
chunk is forwarded at once. A 4xx answer is the engine judging the request itself and goes back to
the client unchanged.

Errors from the network are `engine_client.EngineIOError`s, whichever client carries the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from sloserve.gateway.upstream import engine_client

_FORWARDED_HEADERS = ("content-type", "accept", "x-request-id", "traceparent", "tracestate")


class EngineFailedError(Exception):
    """The engine failed the request before sending any of its output; safe to retry elsewhere."""

    def __init__(self, engine_url: str, reason: str) -> None:
        super().__init__(f"engine {engine_url} failed: {reason}")
        self.engine_url = engine_url
        self.reason = reason


@dataclass(frozen=True)
class CompleteAnswer:
    """A whole (non-streamed) answer, or an engine's 4xx, to pass back as it is."""

    status: int
    body: bytes
    content_type: str


@dataclass(eq=False)
class OpenStream:
    """A stream that has produced its first chunk; `rest` yields the remaining raw chunks."""

    reply: engine_client.EngineReply
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
        except (TimeoutError, engine_client.EngineIOError):
            pass
        await self.reply.close()


def forwarded_headers(client_headers: Mapping[str, str], request_id: str) -> dict[str, str]:
    """Headers an engine should see: the body's type, tracing and our request id.

    The client's API key is the gateway's business and is never sent on.
    """
    headers = {name: client_headers[name] for name in _FORWARDED_HEADERS if name in client_headers}
    # The gateway accepts a JSON body sent without a type; engines may not.
    headers.setdefault("content-type", "application/json")
    headers["x-request-id"] = request_id
    return headers


async def fetch_whole(
    engines: engine_client.EngineClient,
    *,
    engine_url: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
) -> CompleteAnswer:
    """POST and read the whole answer; raises EngineFailedError when it may be retried."""
    try:
        reply = await engines.post(engine_url + path, body=body, headers=headers)
        try:
            content = await _read_all(reply)
        finally:
            await reply.close()
    except engine_client.EngineIOError as error:
        raise EngineFailedError(engine_url, str(error)) from error
    if reply.status >= 500:
        raise EngineFailedError(engine_url, f"HTTP {reply.status}")
    return CompleteAnswer(
        status=reply.status,
        body=content,
        content_type=reply.content_type or "application/json",
    )


async def open_stream(
    engines: engine_client.EngineClient,
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
        reply = await engines.post(engine_url + path, body=body, headers=headers)
    except engine_client.EngineIOError as error:
        raise EngineFailedError(engine_url, str(error)) from error
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
    except engine_client.EngineIOError as error:
        await reply.close()
        raise EngineFailedError(engine_url, str(error)) from error
    except BaseException:
        await reply.close()
        raise
    if first_chunk is None:
        await reply.close()
        raise EngineFailedError(engine_url, "the stream ended before any output")
    return OpenStream(reply=reply, first_chunk=first_chunk, rest=chunks)


async def _read_all(reply: engine_client.EngineReply) -> bytes:
    return b"".join([chunk async for chunk in reply.chunks()])


async def _first_non_empty(chunks: AsyncIterator[bytes]) -> bytes | None:
    async for chunk in chunks:
        if chunk:
            return chunk
    return None
