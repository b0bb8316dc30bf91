"""A server-sent-events response that notices a client leaving while nothing is being sent.

Starlette's StreamingResponse only notices a disconnect when it next writes (on recent ASGI
servers), which for a request still waiting for its first token can be long after the client
left. This response listens for `http.disconnect` the whole time and then closes the event
generator at once, so its `finally` can abort the engine request and free its KV blocks.
An exception raised by the generator propagates to the server, which drops the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping

from starlette import responses
from starlette.types import Receive, Scope, Send


class EventStreamResponse(responses.Response):
    """200 `text/event-stream` whose body is the strings `events` yields."""

    media_type = "text/event-stream"

    def __init__(
        self, events: AsyncGenerator[str, None], *, headers: Mapping[str, str] | None = None
    ) -> None:
        self._events = events
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = asyncio.create_task(self._pump(send))
        listener = asyncio.create_task(_until_disconnect(receive))
        try:
            done, _ = await asyncio.wait({pump, listener}, return_when=asyncio.FIRST_COMPLETED)
            if pump in done:
                with contextlib.suppress(OSError):  # the client left during a write
                    pump.result()
        finally:
            for task in (pump, listener):
                task.cancel()
            for task in (pump, listener):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._events.aclose()

    async def _pump(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async for event in self._events:
            await send({"type": "http.response.body", "body": event.encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
