"""The lean engine client: streaming, keep-alive, stale connections, limits, timeouts, errors.

Each test runs a small HTTP/1.1 server on a local port that answers as the test scripts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from sloserve.gateway.upstream.engine_link import EngineLink

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class ScriptedServer:
    """Answers every request with `answer`; counts connections and sees them close."""

    answer: Answer
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    closed_early: int = 0
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                await self.answer(head + body, writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], Awaitable[ScriptedServer]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> ScriptedServer:
        scripted = ScriptedServer(answer)
        server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        scripted.url = f"http://127.0.0.1:{port}"
        return scripted

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def link(**overrides: float) -> EngineLink:
    settings = {"max_connections": 10, "connect_timeout_s": 1.0, "read_timeout_s": 5.0}
    settings.update(overrides)
    return EngineLink(
        max_connections=int(settings["max_connections"]),
        connect_timeout_s=settings["connect_timeout_s"],
        read_timeout_s=settings["read_timeout_s"],
    )


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


async def stream_three_events(_: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    for part in (b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"):
        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
        await writer.drain()
        await asyncio.sleep(0.01)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def read_all(reply: object) -> bytes:
    chunks = [chunk async for chunk in reply.chunks()]  # type: ignore[attr-defined]
    return b"".join(chunks)


async def test_a_chunked_stream_arrives_in_order_without_its_framing(serve: Callable) -> None:
    server = await serve(stream_three_events)
    engines = link()
    reply = await engines.post(
        f"{server.url}/v1/completions",
        body=b'{"x":1}',
        headers={"content-type": "application/json"},
    )
    assert (reply.status, reply.content_type) == (200, "text/event-stream")
    assert await read_all(reply) == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
    await reply.close()
    request = server.requests[0]
    assert request.startswith(b"POST /v1/completions HTTP/1.1\r\n")
    assert b"content-length: 7\r\n" in request
    assert request.endswith(b'\r\n\r\n{"x":1}')
    await engines.aclose()


async def test_an_answer_read_to_its_end_leaves_its_connection_for_the_next_request(
    serve: Callable,
) -> None:
    server = await serve(stream_three_events)
    engines = link()
    for _ in range(3):
        reply = await engines.post(f"{server.url}/v1/completions", body=b"{}", headers={})
        await read_all(reply)
        await reply.close()
    assert (len(server.requests), server.connections) == (3, 1)
    await engines.aclose()


async def test_an_idle_connection_the_engine_closed_is_replaced_without_failing(
    serve: Callable,
) -> None:
    async def answer_then_close(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # as a server does when its keep-alive timeout runs out

    server = await serve(answer_then_close)
    engines = link()
    first = await engines.post(f"{server.url}/a", body=b"", headers={})
    assert await read_all(first) == b"ok"
    await first.close()
    await asyncio.sleep(0.05)  # the close reaches the pool
    second = await engines.post(f"{server.url}/a", body=b"", headers={})
    assert (second.status, await read_all(second)) == (200, b"ok")
    await second.close()
    assert server.connections == 2
    await engines.aclose()


async def test_a_stale_connection_noticed_only_on_sending_is_retried_once(
    serve: Callable,
) -> None:
    answered: dict[asyncio.StreamWriter, int] = {}

    async def one_answer_per_connection(_: bytes, writer: asyncio.StreamWriter) -> None:
        if answered.get(writer):
            # The next request on a kept-alive connection: drop it unread, as an engine whose
            # keep-alive ran out just as the request was sent.
            writer.transport.abort()
            return
        answered[writer] = 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()

    server = await serve(one_answer_per_connection)
    engines = link()
    first = await engines.post(f"{server.url}/a", body=b"", headers={})
    await read_all(first)
    await first.close()
    second = await engines.post(f"{server.url}/a", body=b"", headers={})
    assert await read_all(second) == b"ok"
    await second.close()
    assert (len(server.requests), server.connections, len(answered)) == (3, 2, 2)
    await engines.aclose()


async def test_an_engine_that_is_not_listening_is_a_connect_error() -> None:
    engines = link()
    with pytest.raises(httpx.ConnectError, match="cannot connect"):
        await engines.post("http://127.0.0.1:9/v1/completions", body=b"", headers={})


async def test_closing_a_reply_before_its_end_closes_the_connection_at_the_engine(
    serve: Callable,
) -> None:
    engine_saw_close = asyncio.Event()

    async def endless(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        try:
            while True:
                writer.write(b"6\r\ndata: \r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
        except ConnectionError:
            engine_saw_close.set()
            raise

    server = await serve(endless)
    engines = link()
    reply = await engines.post(f"{server.url}/a", body=b"", headers={})
    async for _ in reply.chunks():
        break
    await reply.close()
    await asyncio.wait_for(engine_saw_close.wait(), timeout=5)
    await engines.aclose()


async def test_an_engine_silent_past_the_read_timeout_is_a_read_timeout(serve: Callable) -> None:
    async def silent(_: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    server = await serve(silent)
    engines = link(read_timeout_s=0.1)
    with pytest.raises(httpx.ReadTimeout):
        await engines.post(f"{server.url}/a", body=b"", headers={})


async def test_an_engine_that_dies_mid_answer_is_a_read_error(serve: Callable) -> None:
    async def dies(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()

    server = await serve(dies)
    engines = link()
    reply = await engines.post(f"{server.url}/a", body=b"", headers={})
    with pytest.raises(httpx.ReadError):
        await read_all(reply)
    await reply.close()


async def test_a_request_waits_for_a_connection_when_all_are_busy(serve: Callable) -> None:
    server = await serve(stream_three_events)
    engines = link(max_connections=1, connect_timeout_s=0.2)
    busy = await engines.post(f"{server.url}/a", body=b"", headers={})
    with pytest.raises(httpx.PoolTimeout):
        await engines.post(f"{server.url}/a", body=b"", headers={})
    waiting = asyncio.ensure_future(engines.post(f"{server.url}/a", body=b"", headers={}))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await read_all(busy)
    await busy.close()
    second = await asyncio.wait_for(waiting, timeout=1)
    assert await read_all(second) == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
    await second.close()
    assert server.connections == 1
    await engines.aclose()


async def test_a_header_value_with_a_line_break_is_refused() -> None:
    engines = link()
    with pytest.raises(httpx.LocalProtocolError, match="traceparent"):
        await engines.post(
            "http://127.0.0.1:9/a", body=b"", headers={"traceparent": "x\r\nevil: 1"}
        )


async def test_a_url_that_is_not_plain_http_is_refused() -> None:
    engines = link()
    assert not engines.handles("https://engine:8000")
    with pytest.raises(httpx.UnsupportedProtocol):
        await engines.post("https://engine:8000/a", body=b"", headers={})


async def test_an_answer_that_is_not_http_is_a_protocol_error(serve: Callable) -> None:
    async def garbage(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    server = await serve(garbage)
    engines = link()
    with pytest.raises(httpx.RemoteProtocolError):
        await engines.post(f"{server.url}/a", body=b"", headers={})
