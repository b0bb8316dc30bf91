"""The network under the engine client: HTTP/1.1 through aiohttp's pool and C parser.

`AiohttpTransport` is an httpx transport, so the engine client keeps httpx's API (and
`httpx.MockTransport` in tests) for what is not on a request's critical path, such as the scrapes
of the engines' metrics; generation requests go through `engine_link`. httpx's own transport
parses HTTP in pure Python over anyio streams, about 2.4 ms of CPU per streamed request more than
this one on the 2-core development machine (measured with the trivial proxies described in
docs/gateway.md).

Errors are raised as the httpx exceptions they correspond to, so callers handle only httpx's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx

# Hop-by-hop headers, and those aiohttp computes itself from the body.
_NOT_FORWARDED = frozenset({b"host", b"content-length", b"transfer-encoding", b"connection"})


class _ResponseBody(httpx.AsyncByteStream):
    """The body of an aiohttp response as httpx reads it; closing it early aborts the request."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as error:
            raise httpx.ReadError(
                str(error) or type(error).__name__, request=self._request
            ) from error
        except TimeoutError as error:
            raise httpx.ReadTimeout("the engine went silent", request=self._request) from error

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            # An unfinished body: close the connection so that the engine sees the client go.
            self._response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """A pooled HTTP/1.1 transport. The session is made on first use, inside the event loop."""

    def __init__(self, *, max_connections: int, keepalive_timeout_s: float = 60.0) -> None:
        self._max_connections = max_connections
        self._keepalive_timeout_s = keepalive_timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._ensure_session()
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _NOT_FORWARDED
        ]
        body = await request.aread()
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=body or None,
                timeout=timeout,
                allow_redirects=False,
                auto_decompress=False,
            )
        except aiohttp.ClientConnectorError as error:
            raise httpx.ConnectError(str(error), request=request) from error
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            raise httpx.RemoteProtocolError(
                str(error) or type(error).__name__, request=request
            ) from error
        except TimeoutError as error:
            raise httpx.ConnectTimeout(
                "the engine did not answer in time", request=request
            ) from error
        return httpx.Response(
            status_code=response.status,
            headers=[
                (name, value)
                for name, value in response.raw_headers
                if name.lower() not in _NOT_FORWARDED
            ],
            stream=_ResponseBody(response, request),
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            # aiohttp's connections finish closing on the next loop turn.
            await asyncio.sleep(0)

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    limit_per_host=0,
                    keepalive_timeout=self._keepalive_timeout_s,
                ),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session
