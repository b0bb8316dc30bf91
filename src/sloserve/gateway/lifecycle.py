"""Draining: how the gateway stops without cutting off the requests it holds.

Once draining begins, new requests are refused with 503 (and `/readyz` fails, so Kubernetes takes
the pod out of its Service) while the requests already accepted run to completion. If they outlast
the grace period, their engine connections are closed: streaming clients then get an error event
and `[DONE]` rather than a hung connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Protocol

log = logging.getLogger(__name__)


class Abortable(Protocol):
    """A response still streaming, which can be cut short with a reason for its client."""

    async def abort(self, reason: str) -> None: ...


class Lifecycle:
    """Counts accepted requests and the open engine streams, and runs the drain."""

    def __init__(self) -> None:
        self.draining = False
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._streams: set[Abortable] = set()

    @property
    def active(self) -> int:
        """Requests accepted and not yet answered in full."""
        return self._active

    def enter(self) -> None:
        self._active += 1
        self._idle.clear()

    def exit(self) -> None:
        self._active -= 1
        if self._active == 0:
            self._idle.set()

    @contextlib.contextmanager
    def holding(self, stream: Abortable) -> Iterator[None]:
        """Register a streaming response for the duration of its relay."""
        self._streams.add(stream)
        try:
            yield
        finally:
            self._streams.discard(stream)

    def begin_drain(self) -> None:
        if not self.draining:
            log.info("draining: refusing new requests, %d in flight", self._active)
        self.draining = True

    async def drain(self, *, grace_period_s: float) -> bool:
        """Begin draining and wait up to `grace_period_s` for the accepted requests to end.

        Returns True when they all ended in time; otherwise aborts the streams still open (their
        clients get an error event) and returns False.
        """
        self.begin_drain()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace_period_s)
        except TimeoutError:
            log.warning(
                "grace period of %.1f s over: closing %d engine streams",
                grace_period_s,
                len(self._streams),
            )
            for stream in list(self._streams):
                await stream.abort(
                    f"the gateway is shutting down and its {grace_period_s:g} s grace period "
                    "is over"
                )
            return False
        log.info("drained: no request in flight")
        return True
