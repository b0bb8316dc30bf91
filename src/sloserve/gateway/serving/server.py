"""The gateway's HTTP/1.1 server protocol: uvicorn's httptools protocol, with a response's head
sent together with its first body chunk.

uvicorn writes a response's head the moment the app starts the response, and each body chunk as
it is sent. A relayed stream starts its response and sends its first chunk in one go, so every
streamed answer went out as two packets where one would do: on the loopback of a small virtual
machine each packet costs the sender a system call and wakes the client once more, tens of
microseconds each (measured with `strace` and the overhead benchmark, see
docs/gateway.md). Here a head is held until the next write, which takes it along; a head with no
write after it in the same turn of the event loop leaves at the start of the next turn, before
any new input is handled. Body chunks are never held.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport(asyncio.Transport):
    """A transport that sends a response head with the write after it; everything else is the
    wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        chunk = bytes(data)
        if chunk.startswith(b"HTTP/"):
            # A response head: wait for the body's first chunk, at most until the next turn.
            if not self._held:
                self._loop.call_soon(self.flush)
            self._held.append(chunk)
            return
        if self._held:
            self._held.append(chunk)
            self.flush()
            return
        if not self._transport.is_closing():
            self._transport.write(chunk)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what is held now."""
        if not self._held:
            return
        held, self._held = self._held, []
        if not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(data) for data in self._held)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio's interface without deriving from its classes.
        stream = cast(asyncio.Transport, transport)
        super().connection_made(CoalescingTransport(stream, asyncio.get_running_loop()))
