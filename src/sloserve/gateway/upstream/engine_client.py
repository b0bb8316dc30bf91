"""The HTTP client that carries generation requests to engines: one pooled `aiohttp` session.

aiohttp's client parses answers with its C HTTP parser and keeps connections alive per engine;
httpx's own transport parses in pure Python over anyio streams, which cost about 2.4 ms of CPU
more per streamed request on the 2-core development machine (docs/gateway.md). The session is set
up as a proxy needs it: no redirects followed, no cookies kept (an engine's cookie must never reach
another tenant's request), nothing decompressed, no headers of its own beyond `Host` and the
body's length, and connections idle longer than engines keep them open are closed first.

`HttpxEngineClient` carries the same calls over any httpx transport; the gateway's unit tests
use it with an `httpx.MockTransport` in place of the network.

Whichever client carries a request, a failure of the network under it is an `EngineIOError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import aiohttp
import httpx

# uvicorn, under vLLM and the engine simulator, closes a connection idle for 5 s; closing ours
# sooner means a request is rarely sent on a connection the engine is closing.
KEEPALIVE_TIMEOUT_S = 4.0


class EngineIOError(Exception):
    """The network failed under a request to an engine: no connection, a timeout, a connection
    lost, or an answer that is not HTTP."""


class EngineReply(Protocol):
    """An engine's answer whose body has not been read yet; it must be closed."""

    @property
    def status(self) -> int: ...

    @property
    def content_type(self) -> str | None: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; raises EngineIOError."""
        ...

    async def close(self) -> None:
        """Release the connection; for an unfinished body this aborts the request at the
        engine."""
        ...


class EngineClient(Protocol):
    """Sends one POST to an engine and returns its reply once the answer's head is in."""

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> EngineReply:
        """Raises EngineIOError."""
        ...

    async def aclose(self) -> None: ...


class AiohttpEngineClient:
    """Pooled connections to every engine, at most `max_connections` open at once."""

    def __init__(
        self, *, max_connections: int, connect_timeout_s: float, read_timeout_s: float
    ) -> None:
        self._read_timeout_s = read_timeout_s
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=max_connections, limit_per_host=0, keepalive_timeout=KEEPALIVE_TIMEOUT_S
            ),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=connect_timeout_s,
                sock_connect=connect_timeout_s,
                sock_read=read_timeout_s,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> EngineReply:
        try:
            try:
                response = await self._send(url, body, headers)
            except aiohttp.ClientConnectorError:
                raise
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                # A kept-alive connection the engine closed as the request went out: it closed
                # before answering (so the request was not run, or was aborted with the
                # connection), and sending it again on a new connection is safe.
                response = await self._send(url, body, headers)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise EngineIOError(_describe(error)) from error
        return _AiohttpReply(response, self._read_timeout_s)

    async def _send(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> aiohttp.ClientResponse:
        return await self._session.post(url, data=body, headers=headers, allow_redirects=False)

    async def aclose(self) -> None:
        await self._session.close()


class _AiohttpReply:
    def __init__(self, response: aiohttp.ClientResponse, read_timeout_s: float) -> None:
        self._response = response
        self._read_timeout_s = read_timeout_s
        self.status = response.status
        self.content_type: str | None = response.headers.get("Content-Type")

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as error:
            raise EngineIOError(
                f"the engine sent nothing for {self._read_timeout_s:g} s"
            ) from error
        except aiohttp.ClientError as error:
            raise EngineIOError(_describe(error)) from error

    async def close(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            # An unfinished body: close the connection so that the engine sees the client go.
            self._response.close()


class HttpxEngineClient:
    """The same calls over an httpx transport, without `httpx.AsyncClient`'s per-request handling
    of redirects, cookies and authentication (a proxy wants none of them)."""

    def __init__(self, transport: httpx.AsyncBaseTransport, *, timeout: httpx.Timeout) -> None:
        self._transport = transport
        self._extensions = {"timeout": timeout.as_dict()}

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> EngineReply:
        request = httpx.Request(
            "POST", url, headers=headers, content=body, extensions=self._extensions
        )
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.HTTPError as error:
            raise EngineIOError(_describe(error)) from error
        return _HttpxReply(response)

    async def aclose(self) -> None:
        """The transport belongs to the caller, who closes it."""


class _HttpxReply:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.content_type = response.headers.get("content-type")

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._response.is_stream_consumed:
            # A transport that read the whole body already (as `httpx.MockTransport` does).
            yield self._response.content
            return
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except (httpx.HTTPError, httpx.StreamError) as error:
            raise EngineIOError(_describe(error)) from error

    async def close(self) -> None:
        await self._response.aclose()


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
