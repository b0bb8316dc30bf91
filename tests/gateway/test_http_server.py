"""Writes made in one turn of the event loop leave the gateway as one send."""

from __future__ import annotations

import asyncio
from typing import Any

from sloserve.gateway.http_server import CoalescingTransport


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


async def test_writes_of_one_turn_are_sent_together_at_the_next_turn() -> None:
    wire = RecordingTransport()
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"5\r\nhello\r\n")
    assert wire.sent == []
    await asyncio.sleep(0)
    assert wire.sent == [b"HTTP/1.1 200 OK\r\n\r\n5\r\nhello\r\n"]


async def test_writes_of_later_turns_are_sent_separately() -> None:
    wire = RecordingTransport()
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"first")
    await asyncio.sleep(0)
    transport.write(b"second")
    await asyncio.sleep(0)
    assert wire.sent == [b"first", b"second"]


async def test_closing_sends_what_is_held_first() -> None:
    wire = RecordingTransport()
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"0\r\n\r\n")
    transport.close()
    assert (wire.sent, wire.closed) == ([b"0\r\n\r\n"], True)
    await asyncio.sleep(0)
    assert wire.sent == [b"0\r\n\r\n"]


async def test_aborting_drops_what_is_held() -> None:
    wire = RecordingTransport()
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"never sent")
    transport.abort()
    await asyncio.sleep(0)
    assert (wire.sent, wire.aborted) == ([], True)


async def test_the_held_bytes_count_as_buffered() -> None:
    wire = RecordingTransport()
    wire.get_write_buffer_size = lambda: 10  # type: ignore[method-assign]
    transport = CoalescingTransport(wire, asyncio.get_running_loop())
    transport.write(b"12345")
    assert transport.get_write_buffer_size() == 15
