"""Relaying an engine's stream to the client token by token, and ending it cleanly whatever happens.

- The engine finishes (`[DONE]`): served.
- The engine dies or the stream ends without `[DONE]`: the client gets an error event and
  `data: [DONE]`, never a hung connection; the request failed.
- The client goes away: the engine connection is closed (which aborts the request there) and the
  scheduler hears that the request was cancelled.

`RelayResponse` sends the chunks itself, and the request's `ClientWatch` tells it of a disconnect,
instead of Starlette's streaming response, which spends an anyio task group on every response.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import anyio
import httpx
from fastapi import Response
from starlette.types import Receive, Scope, Send

from sloserve.gateway import client_watch, exchange, lifecycle, sse, upstream

log = logging.getLogger(__name__)


class Relay:
    """One stream on its way from an engine to a client."""

    def __init__(
        self,
        *,
        stream: upstream.OpenStream,
        engine_url: str,
        current: exchange.Exchange,
        gateway_lifecycle: lifecycle.Lifecycle,
    ) -> None:
        self._stream = stream
        self._engine_url = engine_url
        self._current = current
        self._lifecycle = gateway_lifecycle
        self._tally = sse.StreamTally()
        self._client_gone = False
        self._abort_reason: str | None = None
        self._closed = False

    def client_gone(self) -> None:
        """The client disconnected: stop reading from the engine (the relay then ends)."""
        if self._closed or self._client_gone:
            return
        self._client_gone = True
        asyncio.get_running_loop().create_task(self._stream.close())

    async def abort(self, reason: str) -> None:
        """End the stream now: the client gets an error event saying `reason`, then [DONE]."""
        self._abort_reason = reason
        await self._stream.close()

    async def body(self) -> AsyncIterator[bytes]:
        """The client's response body."""
        current = self._current
        model_runtime = current.model_runtime
        request_id = current.request.request_id
        tally = self._tally
        with self._lifecycle.holding(self):
            tally.feed(self._stream.first_chunk, now_s=model_runtime.clock.now())
            if tally.token_events:
                model_runtime.progress(
                    request_id, self._engine_url, generated_tokens=tally.token_events
                )
            yield self._stream.first_chunk
            failure = "the engine's stream ended before [DONE]"
            try:
                async for chunk in self._stream.rest:
                    events = tally.token_events
                    tally.feed(chunk, now_s=model_runtime.clock.now())
                    if tally.token_events != events:
                        model_runtime.progress(
                            request_id, self._engine_url, generated_tokens=tally.token_events
                        )
                    yield chunk
            except (httpx.HTTPError, httpx.StreamError) as error:
                failure = f"the engine failed mid-stream ({type(error).__name__})"
        if self._abort_reason is not None:
            failure = self._abort_reason
        if self._client_gone:
            current.end_cancelled(tokens=tally.tokens)
            return
        if tally.done:
            current.end_served_stream(
                exchange.TokenTiming(
                    first_token_s=tally.first_token_s,
                    last_token_s=tally.last_token_s,
                    tokens=tally.tokens,
                )
            )
            return
        log.warning("request %s on %s: %s", request_id, self._engine_url, failure)
        current.end_failed(tokens=tally.tokens)
        yield sse.error_event(
            message=f"{failure}; the response is incomplete, retry the request",
            error_type="engine_failed" if self._abort_reason is None else "gateway_shutdown",
            code=502 if self._abort_reason is None else 503,
        )
        yield sse.DONE_EVENT

    async def close(self) -> None:
        """Close the engine connection and settle the request; idempotent. A request no path
        ended was cut off by the client (or by cancellation), so it counts as cancelled."""
        if self._closed:
            return
        self._closed = True
        await self._stream.close()
        self._current.end_cancelled(tokens=self._tally.tokens)
        self._lifecycle.exit()


class RelayResponse(Response):
    """Streams a relay to the client; always closes it, however the response ends."""

    def __init__(
        self,
        relay: Relay,
        *,
        watch: client_watch.ClientWatch,
        status_code: int,
        media_type: str,
        headers: dict[str, str],
    ) -> None:
        super().__init__(status_code=status_code, media_type=media_type, headers=headers)
        # No body is known up front: drop the Content-Length the base class computed for b"".
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.relay = relay
        self._watch = watch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._watch.on_gone(self.relay.client_gone)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            async for chunk in self.relay.body():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._watch.stop()
            # Closing must finish even when this task is being cancelled, or the engine would go
            # on generating for nobody.
            with anyio.CancelScope(shield=True):
                await self.relay.close()
