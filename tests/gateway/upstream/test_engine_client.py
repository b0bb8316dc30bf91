"""The engine client: streaming, keep-alive, stale connections, limits, timeouts, errors.

Each test runs a small HTTP/1.1 server on a local port that answers as the test scripts it; the
tests wait on what the server and the client do (events), never on the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from sloserve.gateway.upstream.engine_client import AiohttpEngineClient, EngineIOError

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class ScriptedServer:
    """Answers every request with `answer`; counts connections and requests."""

    answer: Answer
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
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


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., AiohttpEngineClient]]:
    made: list[AiohttpEngineClient] = []

    def make(**overrides: float) -> AiohttpEngineClient:
        settings = {"max_connections": 10, "connect_timeout_s": 5.0, "read_timeout_s": 30.0}
        settings.update(overrides)
        client = AiohttpEngineClient(
            max_connections=int(settings["max_connections"]),
            connect_timeout_s=settings["connect_timeout_s"],
            read_timeout_s=settings["read_timeout_s"],
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


EVENTS = (b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n")


async def stream_three_events(_: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    for part in EVENTS:
        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def answer_ok(_: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    await writer.drain()


async def read_all(reply: object) -> bytes:
    chunks = [chunk async for chunk in reply.chunks()]  # type: ignore[attr-defined]
    return b"".join(chunks)


async def test_a_chunked_stream_arrives_in_order_without_its_framing(
    serve: Callable, clients: Callable
) -> None:
    server = await serve(stream_three_events)
    reply = await clients().post(
        f"{server.url}/v1/completions",
        body=b'{"x":1}',
        headers={"content-type": "application/json", "x-request-id": "req-1"},
    )
    assert (reply.status, reply.content_type) == (200, "text/event-stream")
    assert await read_all(reply) == b"".join(EVENTS)
    await reply.close()
    request = server.requests[0]
    assert request.startswith(b"POST /v1/completions HTTP/1.1\r\n")
    assert b"\r\nContent-Length: 7\r\n" in request
    assert b"\r\nx-request-id: req-1\r\n" in request
    assert request.endswith(b'\r\n\r\n{"x":1}')


async def test_the_client_adds_no_headers_of_its_own_beyond_host_and_length(
    serve: Callable, clients: Callable
) -> None:
    server = await serve(answer_ok)
    reply = await clients().post(f"{server.url}/a", body=b"{}", headers={})
    await read_all(reply)
    await reply.close()
    names = {
        line.split(b":")[0].lower()
        for line in server.requests[0].split(b"\r\n")[1:]
        if b":" in line
    }
    assert names == {b"host", b"content-length"}


async def test_an_answer_read_to_its_end_leaves_its_connection_for_the_next_request(
    serve: Callable, clients: Callable
) -> None:
    server = await serve(stream_three_events)
    client = clients()
    for _ in range(3):
        reply = await client.post(f"{server.url}/v1/completions", body=b"{}", headers={})
        await read_all(reply)
        await reply.close()
    assert (len(server.requests), server.connections) == (3, 1)


async def test_a_connection_the_engine_closed_after_answering_is_replaced_without_failing(
    serve: Callable, clients: Callable
) -> None:
    async def answer_then_close(request: bytes, writer: asyncio.StreamWriter) -> None:
        await answer_ok(request, writer)
        writer.close()  # as a server does when its keep-alive timeout runs out

    server = await serve(answer_then_close)
    client = clients()
    for _ in range(3):
        # Whether the client has seen the close yet or finds out on sending, the request is
        # answered.
        reply = await client.post(f"{server.url}/a", body=b"", headers={})
        assert (reply.status, await read_all(reply)) == (200, b"ok")
        await reply.close()
    assert server.connections == 3


async def test_a_stale_connection_noticed_only_on_sending_is_retried_once(
    serve: Callable, clients: Callable
) -> None:
    answered: set[asyncio.StreamWriter] = set()

    async def one_answer_per_connection(request: bytes, writer: asyncio.StreamWriter) -> None:
        if writer in answered:
            # The next request on a kept-alive connection: drop it unanswered, as an engine
            # whose keep-alive ran out just as the request was sent.
            writer.transport.abort()
            return
        answered.add(writer)
        await answer_ok(request, writer)

    server = await serve(one_answer_per_connection)
    client = clients()
    first = await client.post(f"{server.url}/a", body=b"", headers={})
    await read_all(first)
    await first.close()
    second = await client.post(f"{server.url}/a", body=b"", headers={})
    assert await read_all(second) == b"ok"
    await second.close()
    assert (len(server.requests), server.connections, len(answered)) == (3, 2, 2)


async def test_an_engine_that_is_not_listening_is_an_io_error(clients: Callable) -> None:
    with pytest.raises(EngineIOError, match="Connect"):
        await clients().post("http://127.0.0.1:9/v1/completions", body=b"", headers={})


async def test_closing_a_reply_before_its_end_closes_the_connection_at_the_engine(
    serve: Callable, clients: Callable
) -> None:
    engine_saw_close = asyncio.Event()

    async def endless(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        try:
            while True:
                writer.write(b"6\r\ndata: \r\n")
                await writer.drain()
                await asyncio.sleep(0)
        except ConnectionError:
            engine_saw_close.set()
            raise

    server = await serve(endless)
    reply = await clients().post(f"{server.url}/a", body=b"", headers={})
    async for _ in reply.chunks():
        break
    await reply.close()
    await asyncio.wait_for(engine_saw_close.wait(), timeout=30)


async def test_an_engine_silent_past_the_read_timeout_is_an_io_error(
    serve: Callable, clients: Callable
) -> None:
    never = asyncio.Event()

    async def silent(_: bytes, writer: asyncio.StreamWriter) -> None:
        await never.wait()

    server = await serve(silent)
    with pytest.raises(EngineIOError):
        await clients(read_timeout_s=0.1).post(f"{server.url}/a", body=b"", headers={})
    never.set()


async def test_an_engine_that_dies_mid_answer_is_an_io_error(
    serve: Callable, clients: Callable
) -> None:
    first_chunk_read = asyncio.Event()

    async def dies(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n")
        await writer.drain()
        await first_chunk_read.wait()
        writer.transport.abort()

    server = await serve(dies)
    reply = await clients().post(f"{server.url}/a", body=b"", headers={})
    chunks = reply.chunks()
    assert await anext(chunks) == b"data: "
    first_chunk_read.set()
    with pytest.raises(EngineIOError):
        async for _ in chunks:
            pass
    await reply.close()


async def test_a_request_waits_for_a_connection_when_all_are_busy(
    serve: Callable, clients: Callable
) -> None:
    gate = asyncio.Event()

    async def held_until_the_gate_opens(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n")
        await writer.drain()
        await gate.wait()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    server = await serve(held_until_the_gate_opens)
    impatient = clients(max_connections=1, connect_timeout_s=0.2)
    busy = await impatient.post(f"{server.url}/a", body=b"", headers={})
    with pytest.raises(EngineIOError):
        await impatient.post(f"{server.url}/a", body=b"", headers={})
    patient = clients(max_connections=1, connect_timeout_s=30)
    held = await patient.post(f"{server.url}/a", body=b"", headers={})
    waiting = asyncio.ensure_future(patient.post(f"{server.url}/a", body=b"", headers={}))
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(server.requests) == 2  # the third waits in the client's pool
    gate.set()
    await read_all(held)
    await held.close()
    second = await waiting
    assert await read_all(second) == b"ok"
    await second.close()
    await read_all(busy)
    await busy.close()
    assert server.connections == 2


async def test_a_header_value_with_a_line_break_is_refused(clients: Callable) -> None:
    with pytest.raises(EngineIOError):
        await clients().post(
            "http://127.0.0.1:9/a", body=b"", headers={"traceparent": "x\r\nevil: 1"}
        )


async def test_an_answer_that_is_not_http_is_an_io_error(
    serve: Callable, clients: Callable
) -> None:
    async def garbage(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    server = await serve(garbage)
    with pytest.raises(EngineIOError):
        await clients().post(f"{server.url}/a", body=b"", headers={})
