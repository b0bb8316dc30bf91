"""A response head leaves the gateway with the body chunk written after it."""

from __future__ import annotations

import asyncio
from typing import Any

from sloserve.gateway.serving.server import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


async def test_a_head_goes_out_with_the_first_chunk_at_once() -> None:
    wire = RecordingTransport()
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert wire.sent == []
    transport.write(b"5\r\nhello\r\n")
    assert wire.sent == [b"HTTP/1.1 200 OK\r\n\r\n5\r\nhello\r\n"]
    await asyncio.sleep(0)
    assert len(wire.sent) == 1


async def test_a_head_alone_leaves_at_the_next_turn() -> None:
    wire = RecordingTransport()
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    await asyncio.sleep(0)
    assert wire.sent == [b"HTTP/1.1 200 OK\r\n\r\n"]


async def test_body_chunks_are_never_held() -> None:
    wire = RecordingTransport()
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"5\r\nfirst\r\n")
    transport.write(b"6\r\nsecond\r\n")
    assert wire.sent == [b"5\r\nfirst\r\n", b"6\r\nsecond\r\n"]


async def test_closing_sends_what_is_held_first() -> None:
    wire = RecordingTransport()
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    transport.close()
    assert (wire.sent, wire.closed) == ([b"HTTP/1.1 204 No Content\r\n\r\n"], True)
    await asyncio.sleep(0)
    assert len(wire.sent) == 1


async def test_aborting_drops_what_is_held() -> None:
    wire = RecordingTransport()
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.abort()
    await asyncio.sleep(0)
    assert (wire.sent, wire.aborted) == ([], True)


async def test_the_held_bytes_count_as_buffered() -> None:
    wire = RecordingTransport()
    wire.get_write_buffer_size = lambda: 10  # type: ignore[method-assign]
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"HTTP/")
    assert transport.get_write_buffer_size() == 15
