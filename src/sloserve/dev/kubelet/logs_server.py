"""The part of the kubelet API that `kubectl logs` needs: the API server fetches a container's
log from `https://<node address>:10250/containerLogs/<namespace>/<pod>/<container>`.

A minimal HTTP/1.1 server over TLS that accepts only clients with a certificate of the cluster's
CA (the API server's kubelet client certificate). Supported: `follow`, `previous`,
`tailLines`, `limitBytes`; `timestamps` and `sinceSeconds` are ignored, since the local kubelet
does not time-stamp lines. Every other kubelet endpoint (exec, attach, port-forward) answers 404.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import pathlib
import ssl
import urllib.parse
from collections.abc import Callable

KUBELET_PORT = 10250
_FOLLOW_POLL_S = 0.2

LogLocator = Callable[[str, str, str, bool], pathlib.Path | None]
"""(namespace, pod, container, previous) -> the log file, or None when there is none."""


def serving_context(
    *, cert: pathlib.Path, key: pathlib.Path, client_ca: pathlib.Path
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca))
    context.load_cert_chain(str(cert), str(key))
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["http/1.1"])
    return context


async def serve(
    *, host: str, context: ssl.SSLContext, locate: LogLocator, still_running: Callable[[], bool]
) -> asyncio.Server:
    """Starts serving on host:10250; the caller closes the returned server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            await _handle(reader, writer, locate=locate, still_running=still_running)
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            writer.close()

    return await asyncio.start_server(handle, host=host, port=KUBELET_PORT, ssl=context)


async def _handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    locate: LogLocator,
    still_running: Callable[[], bool],
) -> None:
    request_line = (await reader.readline()).decode("latin-1").strip()
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass
    parts = request_line.split()
    if len(parts) < 2 or parts[0] != "GET":
        await _reply(writer, 405, b"only GET is supported\n")
        return
    url = urllib.parse.urlsplit(parts[1])
    query = dict(urllib.parse.parse_qsl(url.query))
    segments = [urllib.parse.unquote(s) for s in url.path.strip("/").split("/")]
    if segments == ["healthz"]:
        await _reply(writer, 200, b"ok")
        return
    if len(segments) != 4 or segments[0] != "containerLogs":
        await _reply(writer, 404, f"{url.path} is not served by the local kubelet\n".encode())
        return
    _, namespace, pod, container = segments
    path = locate(namespace, pod, container, query.get("previous") == "true")
    if path is None or not path.exists():
        message = f'container "{container}" in pod "{pod}" has no log on this node\n'
        await _reply(writer, 404, message.encode())
        return
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    )
    limit = int(query["limitBytes"]) if "limitBytes" in query else None
    content = _read(path, tail_lines=int(query["tailLines"]) if "tailLines" in query else None)
    if limit is not None:
        content = content[:limit]
    writer.write(content)
    await writer.drain()
    if query.get("follow") == "true" and limit is None:
        await _follow(writer, path, offset=path.stat().st_size, still_running=still_running)


def _read(path: pathlib.Path, *, tail_lines: int | None) -> bytes:
    with path.open("rb") as log:
        if tail_lines is None:
            return log.read()
        return b"".join(collections.deque(log, maxlen=tail_lines))


async def _follow(
    writer: asyncio.StreamWriter,
    path: pathlib.Path,
    *,
    offset: int,
    still_running: Callable[[], bool],
) -> None:
    """Streams what is appended to the log until the client leaves or the kubelet stops."""
    while still_running() and not writer.is_closing():
        with path.open("rb") as log:
            log.seek(offset)
            more = log.read()
        if more:
            offset += len(more)
            writer.write(more)
            await writer.drain()
        await asyncio.sleep(_FOLLOW_POLL_S)


async def _reply(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
