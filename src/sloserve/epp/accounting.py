"""Closing a picked request's accounting from what the response path shows the picker.

The proxy passes the response through the picker (headers, then the body chunk by chunk), so the
picker sees what the gateway would have relayed itself, and settles the request the same way
(`gateway.serving.exchange`): a stream that reached `[DONE]` was served, with its TTFT and TPOT
measured as its chunks passed (and its first token freeing the engine's waiting slot at once); a
whole answer was served, its tokens read from its `usage`; an engine's 4xx was the engine judging
the request; a 5xx (an engine failing, or the proxy unable to reach it) also keeps the engine out of
routing for the failure cooldown, as the gateway does. A response that stops before its end (the
client or the proxy went away) was cancelled.

The endpoint the proxy says served the request normally is the one picked (one is given); when a
proxy sent it elsewhere, the request's load moves to that engine's ledger.
"""

from __future__ import annotations

import logging

from sloserve.epp import endpoints, picker
from sloserve.gateway import lifecycle, runtime
from sloserve.gateway.serving import exchange, sse

log = logging.getLogger(__name__)

# A whole (non-streamed) answer is kept only to read its usage at the end; beyond this size its
# token count is left unknown rather than held in memory.
_WHOLE_BODY_LIMIT_BYTES = 8 * 1024 * 1024


class ResponseAccount:
    """The response of one picked request, until it ends; `settle` or `cancel` end it once."""

    def __init__(
        self,
        pick: picker.Pick,
        *,
        current: exchange.Exchange,
        holder: runtime.ModelRuntime,
        picker_lifecycle: lifecycle.Lifecycle,
    ) -> None:
        self._pick = pick
        self._current = current
        self._holder = holder
        self._lifecycle = picker_lifecycle
        self._engine_url = pick.engine_url
        self._moved_to: str | None = None
        self._status: int | None = None
        self._streaming = False
        self._tally = sse.StreamTally()
        self._whole = bytearray()
        self._whole_overflowed = False
        self.ended = False

    @property
    def request_id(self) -> str:
        return self._current.request.request_id

    def on_headers(self, *, status: int | None, content_type: str, served: str | None) -> None:
        self._status = status
        self._streaming = "text/event-stream" in content_type
        if served is not None and served != self._pick.endpoint:
            self._move_to(served)
        if status is not None and status >= 500:
            ledger = self._holder.ledgers.get(self._engine_url)
            if ledger is not None:
                log.warning(
                    "request %s: %s answered %d; routing around it",
                    self.request_id,
                    self._engine_url,
                    status,
                )
                ledger.record_failure(now_s=self._holder.clock.now())

    def on_body(self, chunk: bytes) -> None:
        if self._streaming:
            tally = self._tally
            events = tally.token_events
            tally.feed(chunk, now_s=self._holder.clock.now())
            if tally.token_events != events:
                self._holder.progress(
                    self.request_id, self._engine_url, generated_tokens=tally.token_events
                )
            return
        if len(self._whole) + len(chunk) > _WHOLE_BODY_LIMIT_BYTES:
            self._whole_overflowed = True
            self._whole.clear()
        elif not self._whole_overflowed:
            self._whole.extend(chunk)

    def settle(self) -> None:
        """The response ended: served, or failed, as the module docstring says."""
        if self.ended:
            return
        current = self._current
        tally = self._tally
        status = self._status
        if status is None or status >= 400:
            current.end_failed(tokens=tally.tokens)
        elif self._streaming:
            if tally.done:
                current.end_served_stream(
                    exchange.TokenTiming(
                        first_token_s=tally.first_token_s,
                        last_token_s=tally.last_token_s,
                        tokens=tally.tokens,
                    )
                )
            else:
                log.warning(
                    "request %s on %s: the engine's stream ended before [DONE]",
                    self.request_id,
                    self._engine_url,
                )
                current.end_failed(tokens=tally.tokens)
        else:
            current.end_served_whole(body=bytes(self._whole), answered_s=self._holder.clock.now())
        self._close()

    def cancel(self) -> None:
        """The response stopped before its end: the client or the proxy went away."""
        if self.ended:
            return
        self._current.end_cancelled(tokens=self._tally.tokens)
        self._close()

    def _close(self) -> None:
        self.ended = True
        if self._moved_to is not None:
            ledger = self._holder.ledgers.get(self._moved_to)
            if ledger is not None:
                ledger.remove(self.request_id)
        self._lifecycle.exit()

    def _move_to(self, served: str) -> None:
        """The proxy sent the request to another engine than the one picked."""
        target = next(
            (url for url in self._holder.ledgers if endpoints.endpoint_of(url) == served), None
        )
        log.warning(
            "request %s: picked %s but %s served it%s",
            self.request_id,
            self._pick.endpoint,
            served,
            "" if target is not None else " (not an engine of its model)",
        )
        picked = self._holder.ledgers.get(self._engine_url)
        if target is None or picked is None:
            return
        picked.remove(self.request_id)
        # No prediction was made for the engine that took it: its first token is due by the
        # request's own TTFT deadline.
        request = self._current.request
        self._holder.ledgers[target].add(request, first_token_due_s=request.deadline_s)
        self._engine_url = self._moved_to = target
