"""The relay's endings: served, failed mid-stream, and a client that goes away, including a close
of the engine connection that fails (it is logged, and the request still ends as cancelled)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from sloserve.gateway import lifecycle
from sloserve.gateway.serving import relay
from sloserve.gateway.upstream import engine_calls, engine_client

TOKEN = b'data: {"choices":[{"text":"a"}]}\n\n'


class FakeReply:
    """An engine reply whose close can be made to fail."""

    status = 200
    content_type = "text/event-stream"

    def __init__(self, *, close_fails: bool = False) -> None:
        self.close_fails = close_fails
        self.closes = 0

    def chunks(self) -> AsyncIterator[bytes]:
        raise AssertionError("the relay reads OpenStream.rest")

    async def close(self) -> None:
        self.closes += 1
        if self.close_fails:
            raise engine_client.EngineIOError("the connection could not be closed cleanly")


@dataclass
class FakeClock:
    def now(self) -> float:
        return 0.0


@dataclass
class FakeRuntime:
    clock: FakeClock = field(default_factory=FakeClock)
    progress_seen: list[int] = field(default_factory=list)

    def progress(self, request_id: str, engine_url: str, *, generated_tokens: int) -> None:
        self.progress_seen.append(generated_tokens)


@dataclass
class FakeRequest:
    request_id: str = "req-1"


@dataclass
class FakeExchange:
    """Records how the relay ended the request."""

    request: FakeRequest = field(default_factory=FakeRequest)
    model_runtime: FakeRuntime = field(default_factory=FakeRuntime)
    endings: list[str] = field(default_factory=list)

    def end_served_stream(self, timing: object) -> None:
        self.endings.append("served")

    def end_failed(self, *, tokens: int = 0) -> None:
        self.endings.append("failed")

    def end_cancelled(self, *, tokens: int = 0) -> None:
        self.endings.append("cancelled")


def make_relay(
    reply: FakeReply, rest: AsyncIterator[bytes]
) -> tuple[relay.Relay, FakeExchange, lifecycle.Lifecycle]:
    current = FakeExchange()
    gateway_lifecycle = lifecycle.Lifecycle()
    gateway_lifecycle.enter()
    stream = engine_calls.OpenStream(reply=reply, first_chunk=TOKEN, rest=rest)
    made = relay.Relay(
        stream=stream,
        engine_url="http://engine.test",
        current=current,  # type: ignore[arg-type]
        gateway_lifecycle=gateway_lifecycle,
    )
    return made, current, gateway_lifecycle


async def endless_until(stop: asyncio.Event) -> AsyncIterator[bytes]:
    await stop.wait()
    raise engine_client.EngineIOError("closed")
    yield b""  # an async generator


async def test_a_client_that_goes_away_closes_the_engine_connection_and_cancels() -> None:
    reply = FakeReply()
    stop = asyncio.Event()
    made, current, gateway_lifecycle = make_relay(reply, endless_until(stop))
    body = made.body()
    assert await anext(body) == TOKEN
    made.client_gone()
    stop.set()
    assert [chunk async for chunk in body] == []  # nothing more is written to a gone client
    await made.close()
    assert reply.closes == 1
    assert current.endings == ["cancelled"]
    assert gateway_lifecycle.active == 0


async def test_a_failed_close_after_the_client_left_is_logged_and_the_request_still_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reply = FakeReply(close_fails=True)
    stop = asyncio.Event()
    made, current, gateway_lifecycle = make_relay(reply, endless_until(stop))
    body = made.body()
    await anext(body)
    with caplog.at_level(logging.ERROR, logger=relay.__name__):
        made.client_gone()
        stop.set()
        _ = [chunk async for chunk in body]
        await made.close()
    assert current.endings == ["cancelled"]
    assert gateway_lifecycle.active == 0  # a drain does not wait for it
    [logged] = [r for r in caplog.records if "closing the engine connection failed" in r.message]
    assert "req-1" in logged.getMessage()
    assert logged.exc_info is not None
    assert isinstance(logged.exc_info[1], engine_client.EngineIOError)


async def test_a_stream_whose_close_fails_is_still_settled_as_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reply = FakeReply(close_fails=True)
    stop = asyncio.Event()
    stop.set()
    made, current, gateway_lifecycle = make_relay(reply, endless_until(stop))
    with caplog.at_level(logging.WARNING, logger=relay.__name__):
        chunks = [chunk async for chunk in made.body()]
        await made.close()
    assert chunks[-1] == b"data: [DONE]\n\n"
    assert b"engine_failed" in chunks[-2]
    assert current.endings == ["failed"]
    assert gateway_lifecycle.active == 0
    assert any("closing the engine connection failed" in r.message for r in caplog.records)


async def test_a_served_stream_goes_back_to_the_pool_and_is_settled_as_served() -> None:
    async def rest() -> AsyncIterator[bytes]:
        yield b"data: [DONE]\n\n"

    reply = FakeReply()
    made, current, gateway_lifecycle = make_relay(reply, rest())
    chunks = [chunk async for chunk in made.body()]
    assert chunks == [TOKEN, b"data: [DONE]\n\n"]
    assert made.at_end
    await made.close()
    assert (current.endings, reply.closes, gateway_lifecycle.active) == (["served"], 1, 0)
