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

from fastapi import Response
from starlette.types import Receive, Scope, Send

from sloserve.gateway import lifecycle
from sloserve.gateway.serving import client_watch, exchange, sse
from sloserve.gateway.upstream import engine_calls, engine_client

log = logging.getLogger(__name__)

# How long an engine may take to end its body after `[DONE]` before its connection is closed
# instead of going back to the pool.
_END_OF_BODY_TIMEOUT_S = 1.0


class Relay:
    """One stream on its way from an engine to a client."""

    def __init__(
        self,
        *,
        stream: engine_calls.OpenStream,
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
        self._failure: str | None = None
        self._closed = False
        self._closing: asyncio.Task[None] | None = None
        self.at_end = False
        """Whether the chunk `body` yielded last is the last one the client gets."""

    def client_gone(self) -> None:
        """The client disconnected: stop reading from the engine (the relay then ends). Called
        from the watch's callback, which cannot wait: the engine connection is closed in a task
        that `close` waits for."""
        if self._closed or self._client_gone:
            return
        self._client_gone = True
        self._closing = asyncio.get_running_loop().create_task(self._stream.close())

    async def abort(self, reason: str) -> None:
        """End the stream now: the client gets an error event saying `reason`, then [DONE]."""
        self._abort_reason = reason
        await self._stream.close()

    async def body(self) -> AsyncIterator[bytes]:
        """The client's response body. It ends with the chunk that carries the engine's
        `[DONE]`: the client's response is complete then, without waiting for the engine's own
        end of body, and `close` settles the request after the client has its last byte."""
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
            self.at_end = tally.done
            yield self._stream.first_chunk
            if self.at_end:
                return
            failure = "the engine's stream ended before [DONE]"
            try:
                async for chunk in self._stream.rest:
                    events = tally.token_events
                    tally.feed(chunk, now_s=model_runtime.clock.now())
                    if tally.token_events != events:
                        model_runtime.progress(
                            request_id, self._engine_url, generated_tokens=tally.token_events
                        )
                    self.at_end = tally.done
                    yield chunk
                    if self.at_end:
                        return
            except engine_client.EngineIOError as error:
                failure = f"the engine failed mid-stream ({error})"
        if self._abort_reason is not None:
            failure = self._abort_reason
        if self._client_gone:
            return
        self._failure = failure
        yield sse.error_event(
            message=f"{failure}; the response is incomplete, retry the request",
            error_type="engine_failed" if self._abort_reason is None else "gateway_shutdown",
            code=502 if self._abort_reason is None else 503,
        )
        self.at_end = True
        yield sse.DONE_EVENT

    async def close(self) -> None:
        """End the engine connection and settle the request; idempotent.

        A stream that reached `[DONE]` was served; its connection is read to the end (the engine's
        end of body follows at once) so that it goes back to the pool. A stream that failed was
        failed; one no path ended was cut off by the client (or by cancellation): cancelled."""
        if self._closed:
            return
        self._closed = True
        if self._closing is not None:
            await self._report_failed_close(self._closing)
        tally = self._tally
        if tally.done:
            await self._stream.finish(timeout_s=_END_OF_BODY_TIMEOUT_S)
            self._current.end_served_stream(
                exchange.TokenTiming(
                    first_token_s=tally.first_token_s,
                    last_token_s=tally.last_token_s,
                    tokens=tally.tokens,
                )
            )
        else:
            await self._stream.close()
            if self._failure is not None:
                log.warning(
                    "request %s on %s: %s",
                    self._current.request.request_id,
                    self._engine_url,
                    self._failure,
                )
                self._current.end_failed(tokens=tally.tokens)
            else:
                self._current.end_cancelled(tokens=tally.tokens)
        self._lifecycle.exit()

    async def _report_failed_close(self, closing: asyncio.Task[None]) -> None:
        """Wait for the close started when the client went away, and log it if it failed (the
        connection is then dropped, which aborts the request at the engine all the same)."""
        try:
            await closing
        except Exception:
            log.exception(
                "request %s on %s: closing the engine connection failed",
                self._current.request.request_id,
                self._engine_url,
            )


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
            ended = False
            async for chunk in self.relay.body():
                # The last chunk ends the response in the same write: one packet, one wake-up
                # of the client fewer.
                ended = self.relay.at_end
                await send({"type": "http.response.body", "body": chunk, "more_body": not ended})
            if not ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._watch.stop()
            # Closing must finish even when this task is being cancelled, or the engine would go
            # on generating for nobody.
            await asyncio.shield(self.relay.close())
