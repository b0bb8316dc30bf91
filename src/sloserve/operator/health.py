"""A minimal HTTP endpoint for the operator pod's liveness probe: `GET /healthz` answers 200
(with whether this replica leads) while the process's event loop runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

__all__ = ["serve_health"]

_READ_LIMIT = 8192


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, is_leader: Callable[[], bool]
) -> None:
    try:
        request_line = await asyncio.wait_for(reader.readline(), timeout=5)
        # The headers are read and ignored; the probe sends no body.
        while (line := await asyncio.wait_for(reader.readline(), timeout=5)) not in (
            b"\r\n",
            b"\n",
            b"",
        ):
            if len(line) > _READ_LIMIT:
                break
        parts = request_line.decode("latin-1").split()
        found = len(parts) >= 2 and parts[0] in ("GET", "HEAD") and parts[1] == "/healthz"
        status = "200 OK" if found else "404 Not Found"
        payload = json.dumps({"ok": found, "leader": is_leader()}).encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + (payload if parts[:1] != ["HEAD"] else b"")
        )
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve_health(*, host: str, port: int, is_leader: Callable[[], bool]) -> asyncio.Server:
    """Starts the endpoint on `host:port` and returns the server (close it to stop)."""
    return await asyncio.start_server(
        lambda reader, writer: _answer(reader, writer, is_leader), host=host, port=port
    )
