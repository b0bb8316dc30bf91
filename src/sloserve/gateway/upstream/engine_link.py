"""The gateway's HTTP/1.1 client for generation requests: pooled keep-alive connections to the
engines, one write per request, httptools' C parser for the answers.

Every generation request crosses this client twice on its critical path (the request going out,
the first chunk coming back). A general-purpose client builds request and response objects,
timeouts, tracing hooks and a writer task per request: on the 2-core development machine a
trivial proxy on aiohttp's client took a median 519 µs from a request's arrival to its upstream
write, one on a raw connection 226 µs (`bench/gateway/critical_path.py`), almost a third of the
gateway's whole latency budget between them. This client does only what a proxy to engines in
the same cluster needs: plain HTTP/1.1 POST, `Content-Length` or chunked answers, keep-alive,
a connection limit, connect and read timeouts, and flow control.

Errors are raised as the httpx exceptions they correspond to, so that callers handle one family
whichever client carried the request. A pooled connection the engine closed while it was idle
(uvicorn closes idle connections after 5 s) fails before any byte of its answer; the request is
then sent again once on a new connection, since the engine cannot have seen it.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools
import httpx

# Buffered answer bytes beyond which the connection stops reading until the relay catches up.
_HIGH_WATER_BYTES = 1 << 20


@dataclass(frozen=True)
class _Target:
    """Where a URL's requests go, parsed once per URL."""

    host: str
    port: int
    path: bytes
    host_header: bytes

    @property
    def origin(self) -> tuple[str, int]:
        return (self.host, self.port)


class _StaleConnectionError(Exception):
    """A reused connection closed before any byte of its answer: the engine never read the
    request."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one request at a time."""

    def __init__(self, on_closed: Callable[[_Connection], None]) -> None:
        self._on_closed = on_closed
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.requests_sent = 0
        self._reset()

    def _reset(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.content_type: str | None = None
        self.keep_alive = True
        self.head_received = False
        self.complete = False
        self.received_any = False
        self.error: httpx.TransportError | None = None
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio's interface without deriving from its classes.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(httpx.RemoteProtocolError(f"the engine's answer is not HTTP: {error}"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        if not self.complete and self.error is None:
            reason = str(exc) if exc else "the engine closed the connection"
            self._fail(
                httpx.ReadError(reason) if self.received_any else httpx.RemoteProtocolError(reason)
            )
        self._wake()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self.content_type = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        self.head_received = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._buffer.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER_BYTES and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # used by the pool and the reply

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        if self.requests_sent:
            self._reset()
        self.requests_sent += 1
        self.transport.write(request)

    def take(self) -> bytes | None:
        """The answer bytes buffered so far, or None when there are none."""
        if not self._buffer:
            return None
        data = self._buffer[0] if len(self._buffer) == 1 else b"".join(self._buffer)
        self._buffer = []
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def wait(self, timeout_s: float | None) -> None:
        """Until something happens on the connection: data, the answer's end, its loss."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        except TimeoutError:
            raise httpx.ReadTimeout(f"the engine sent nothing for {timeout_s:g} s") from None
        finally:
            self._waiter = None

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and self.error is None

    def abort(self) -> None:
        """Close at once; an unfinished request is aborted at the engine."""
        if self.closed:
            return
        self._forget()
        if self.transport is not None:
            self.transport.abort()

    def _forget(self) -> None:
        """Leave the pool, once, whichever of an abort and the loss of the connection comes
        first."""
        if not self.closed:
            self.closed = True
            self._on_closed(self)

    def _fail(self, error: httpx.TransportError) -> None:
        if self.error is None:
            self.error = error

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class LinkReply:
    """An engine's answer, its body not yet read; `close` must be called."""

    def __init__(self, link: EngineLink, connection: _Connection, target: _Target) -> None:
        self._link = link
        self._connection = connection
        self._target = target
        self.status = connection.status
        self.content_type = connection.content_type
        self._closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (chunked encoding removed)."""
        connection = self._connection
        timeout_s = self._link.read_timeout_s
        while True:
            data = connection.take()
            if data is not None:
                yield data
                continue
            if connection.complete:
                return
            if connection.error is not None:
                raise connection.error
            await connection.wait(timeout_s)

    async def close(self) -> None:
        """Give the connection back to the pool when its answer was read to the end; otherwise
        close it, which aborts the request at the engine."""
        if self._closed:
            return
        self._closed = True
        self._link.release(self._connection, self._target)


class EngineLink:
    """Pooled connections to every engine, at most `max_connections` open at once."""

    def __init__(
        self, *, max_connections: int, connect_timeout_s: float, read_timeout_s: float
    ) -> None:
        self.max_connections = max_connections
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._open = 0
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._targets: dict[str, _Target] = {}

    @staticmethod
    def handles(url: str) -> bool:
        """Whether this client can carry a request to `url` (plain HTTP only)."""
        return url.startswith("http://")

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> LinkReply:
        """POST `body` to `url` and wait for the answer's head. Raises httpx errors."""
        target = self._target(url)
        request = _request_bytes(target, body, headers)
        connection, reused = await self._acquire(target)
        try:
            await self._send(connection, request)
        except _StaleConnectionError:
            if not reused:
                raise httpx.RemoteProtocolError(
                    "the engine closed the connection without answering"
                ) from None
            connection, _ = await self._acquire(target, fresh=True)
            try:
                await self._send(connection, request)
            except _StaleConnectionError:
                raise httpx.RemoteProtocolError(
                    "the engine closed the connection without answering"
                ) from None
        return LinkReply(self, connection, target)

    def release(self, connection: _Connection, target: _Target) -> None:
        """A request on `connection` is over: keep it for the next one, or close it."""
        if connection.reusable():
            self._idle.setdefault(target.origin, []).append(connection)
            self._wake_slot_waiter()
        else:
            connection.abort()

    async def aclose(self) -> None:
        """Close every idle connection (those in use close when their answers end)."""
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()
        await asyncio.sleep(0)

    async def _send(self, connection: _Connection, request: bytes) -> None:
        connection.send(request)
        try:
            while not connection.head_received:
                if connection.error is not None:
                    if not connection.received_any:
                        raise _StaleConnectionError
                    raise connection.error
                await connection.wait(self.read_timeout_s)
        except BaseException:
            connection.abort()
            raise

    async def _acquire(self, target: _Target, *, fresh: bool = False) -> tuple[_Connection, bool]:
        """A connection to the target's engine and whether it was used before."""
        while True:
            if not fresh:
                idle = self._idle.get(target.origin)
                while idle:
                    connection = idle.pop()
                    if not connection.closed:
                        return connection, True
            if self._open < self.max_connections:
                return await self._connect(target), False
            if self._close_an_idle_connection():
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(waiter)
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    await waiter
            except TimeoutError:
                raise httpx.PoolTimeout(
                    f"all {self.max_connections} engine connections stayed busy for "
                    f"{self.connect_timeout_s:g} s"
                ) from None

    async def _connect(self, target: _Target) -> _Connection:
        self._open += 1
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self._on_connection_closed), target.host, target.port
                )
        except TimeoutError:
            self._give_back_slot()
            raise httpx.ConnectTimeout(
                f"no connection to {target.host}:{target.port} within {self.connect_timeout_s:g} s"
            ) from None
        except OSError as error:
            self._give_back_slot()
            raise httpx.ConnectError(
                f"cannot connect to {target.host}:{target.port}: {error}"
            ) from None
        return connection

    def _on_connection_closed(self, connection: _Connection) -> None:
        for idle in self._idle.values():
            if connection in idle:
                idle.remove(connection)
                break
        self._give_back_slot()

    def _give_back_slot(self) -> None:
        self._open -= 1
        self._wake_slot_waiter()

    def _wake_slot_waiter(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_an_idle_connection(self) -> bool:
        for idle in self._idle.values():
            if idle:
                idle.pop(0).abort()
                return True
        return False

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if parts.scheme != "http" or parts.hostname is None:
                raise httpx.UnsupportedProtocol(f"not a plain http:// URL: {url!r}")
            port = parts.port or 80
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            target = _Target(
                host=parts.hostname,
                port=port,
                path=path.encode("latin-1"),
                host_header=parts.netloc.encode("latin-1"),
            )
            if len(self._targets) >= 4096:
                self._targets.clear()  # engines that come and go must not grow this for ever
            self._targets[url] = target
        return target


def _request_bytes(target: _Target, body: bytes, headers: Mapping[str, str]) -> bytes:
    lines = [
        b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-length: %d\r\n"
        % (target.path, target.host_header, len(body))
    ]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise httpx.LocalProtocolError(f"header {name!r} has a line break in it")
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)
