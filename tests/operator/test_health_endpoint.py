"""The liveness endpoint answers /healthz and says whether this replica leads."""

from __future__ import annotations

import asyncio
import json

from sloserve.operator import health


async def _get(port: int, path: str) -> tuple[str, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body


async def test_healthz_answers_ok_with_leadership() -> None:
    leading = [False]
    server = await health.serve_health(host="127.0.0.1", port=0, is_leader=lambda: leading[0])
    port = server.sockets[0].getsockname()[1]
    try:
        status, body = await _get(port, "/healthz")
        assert status == "HTTP/1.1 200 OK"
        assert json.loads(body) == {"ok": True, "leader": False}
        leading[0] = True
        _, body = await _get(port, "/healthz")
        assert json.loads(body)["leader"] is True
    finally:
        server.close()


async def test_other_paths_are_not_found() -> None:
    server = await health.serve_health(host="127.0.0.1", port=0, is_leader=lambda: True)
    port = server.sockets[0].getsockname()[1]
    try:
        status, _ = await _get(port, "/metrics")
        assert status == "HTTP/1.1 404 Not Found"
    finally:
        server.close()
