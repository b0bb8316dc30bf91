"""Noticing that a client went away, with one task per request for the request's whole life.

While the request waits (for an engine, or for the engine's first chunk), a disconnect cancels the
handler's wait; while its answer streams, it stops the relay. Either way the engine connection is
closed and the scheduler hears that the request was cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.types import Receive

_T = TypeVar("_T")


class ClientGoneError(Exception):
    """The client disconnected while its request waited."""


class ClientWatch:
    """Watches one request's connection until `stop()`."""

    def __init__(self, receive: Receive) -> None:
        self.gone = False
        self._on_gone: Callable[[], object] | None = None
        self._task = asyncio.ensure_future(self._watch(receive))

    def on_gone(self, callback: Callable[[], object] | None) -> None:
        """Call `callback` if the client disconnects from now on (None: do nothing)."""
        self._on_gone = callback

    async def unless_gone(self, work: Awaitable[_T]) -> _T:
        """Await `work` in this task; raise ClientGoneError if the client disconnects first."""
        if self.gone:
            raise ClientGoneError
        task = asyncio.current_task()
        assert task is not None
        self.on_gone(task.cancel)
        try:
            return await work
        except asyncio.CancelledError:
            if self.gone:
                task.uncancel()
                raise ClientGoneError from None
            raise
        finally:
            self.on_gone(None)

    def stop(self) -> None:
        self._on_gone = None
        self._task.cancel()

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            continue
        self.gone = True
        if self._on_gone is not None:
            self._on_gone()
