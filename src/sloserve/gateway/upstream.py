"""Sending one request to one engine, up to the point where the client can be answered.

A request counts as failed *before its first byte* (and may be retried elsewhere) when the engine
cannot be reached, answers 5xx, or closes the stream before sending anything. For a stream, the
first chunk is read before the gateway commits its own 200, so that an engine dying during the
prefill is still a retryable failure; the client's time to first token is unchanged, since that
chunk is forwarded at once. A 4xx answer is the engine judging the request itself and goes back to
the client unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx

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

    response: httpx.Response
    first_chunk: bytes
    rest: AsyncIterator[bytes]

    async def close(self) -> None:
        """Close the connection; for an unfinished stream this aborts the request at the engine."""
        await self.response.aclose()


def forwarded_headers(client_headers: Mapping[str, str], request_id: str) -> dict[str, str]:
    """Headers an engine should see: the body's type, tracing and our request id.

    The client's API key is the gateway's business and is never sent on.
    """
    headers = {name: client_headers[name] for name in _FORWARDED_HEADERS if name in client_headers}
    headers["x-request-id"] = request_id
    return headers


async def fetch_whole(
    client: httpx.AsyncClient,
    *,
    engine_url: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
) -> CompleteAnswer:
    """POST and read the whole answer; raises EngineFailedError when it may be retried."""
    try:
        response = await client.post(f"{engine_url}{path}", content=body, headers=headers)
    except httpx.HTTPError as error:
        raise EngineFailedError(engine_url, _describe(error)) from error
    if response.status_code >= 500:
        raise EngineFailedError(engine_url, f"HTTP {response.status_code}")
    return CompleteAnswer(
        status=response.status_code,
        body=response.content,
        content_type=response.headers.get("content-type", "application/json"),
    )


async def open_stream(
    client: httpx.AsyncClient,
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
    request = client.build_request("POST", f"{engine_url}{path}", content=body, headers=headers)
    try:
        response = await client.send(request, stream=True)
    except httpx.HTTPError as error:
        raise EngineFailedError(engine_url, _describe(error)) from error
    try:
        if response.status_code >= 400:
            content = await response.aread()
            await response.aclose()
            if response.status_code >= 500:
                raise EngineFailedError(engine_url, f"HTTP {response.status_code}")
            return CompleteAnswer(
                status=response.status_code,
                body=content,
                content_type=response.headers.get("content-type", "application/json"),
            )
        chunks = response.aiter_raw()
        first_chunk = await _first_non_empty(chunks)
    except httpx.HTTPError as error:
        await response.aclose()
        raise EngineFailedError(engine_url, _describe(error)) from error
    except BaseException:
        await response.aclose()
        raise
    if first_chunk is None:
        await response.aclose()
        raise EngineFailedError(engine_url, "the stream ended before any output")
    return OpenStream(response=response, first_chunk=first_chunk, rest=chunks)


async def _first_non_empty(chunks: AsyncIterator[bytes]) -> bytes | None:
    async for chunk in chunks:
        if chunk:
            return chunk
    return None


def _describe(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
