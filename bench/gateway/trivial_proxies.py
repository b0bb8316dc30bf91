"""Two trivial streaming proxies, the floor under any Python gateway on this machine.

Each is an ASGI app served by uvicorn that forwards `POST /v1/completions` round-robin to the
engines and relays the answer chunk by chunk, and does nothing else. They differ only in the
client they use for the engines:

- `aiohttp`: an `aiohttp.ClientSession` (pooled, C parser);
- `raw`: a keep-alive asyncio connection per engine with httptools' parser and one write per
  request (the approach of `sloserve.gateway.upstream.engine_link`).

`critical_path.py --proxy trivial-aiohttp` / `--proxy trivial-raw` measures them. Run one here:

    ENGINES=http://127.0.0.1:8001,http://127.0.0.1:8002 \\
        uvicorn --app-dir bench/gateway trivial_proxies:aiohttp_app --port 9000
"""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httptools

Scope = dict[str, Any]
Receive = Any
Send = Any

ENGINES = os.environ.get("ENGINES", "").split(",")
_next_engine = itertools.cycle(range(len(ENGINES)))


async def _lifespan_or_health(scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer the lifespan protocol and GET /health; False for a request to proxy."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return True
    if scope["method"] == "GET":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return True
    return False


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


_session: aiohttp.ClientSession | None = None


async def aiohttp_app(scope: Scope, receive: Receive, send: Send) -> None:
    global _session
    if await _lifespan_or_health(scope, receive, send):
        return
    body = await _read_body(receive)
    if _session is None:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    url = ENGINES[next(_next_engine)] + scope["path"]
    headers = {"content-type": "application/json"}
    async with _session.post(url, data=body, headers=headers) as answer:
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        async for chunk in answer.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Connection(asyncio.Protocol):
    """One keep-alive connection; answers go to `events` as (kind, value) pairs."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_headers_complete(self) -> None:
        self.events.put_nowait(("status", self.parser.get_status_code()))

    def on_body(self, body: bytes) -> None:
        self.events.put_nowait(("body", body))

    def on_message_complete(self) -> None:
        self.events.put_nowait(("end", None))

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.put_nowait(("end", None))


_idle: dict[int, list[_Connection]] = {}


async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
    if await _lifespan_or_health(scope, receive, send):
        return
    body = await _read_body(receive)
    index = next(_next_engine)
    engine = urlsplit(ENGINES[index])
    idle = _idle.setdefault(index, [])
    if idle:
        connection = idle.pop()
    else:
        _, connection = await asyncio.get_running_loop().create_connection(
            _Connection, engine.hostname, engine.port
        )
    connection.transport.write(
        b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s"
        % (scope["path"].encode(), engine.netloc.encode(), len(body), body)
    )
    _, status = await connection.events.get()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    while True:
        kind, chunk = await connection.events.get()
        if kind == "end":
            break
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    connection.parser = httptools.HttpResponseParser(connection)
    idle.append(connection)
