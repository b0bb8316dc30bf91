"""The engine on the real clock: an asyncio task that advances the core as time passes.

The core's clock is seconds since the runner started (monotonic). The task sleeps until the step
in flight ends, advances the core to the present and hands each event to the request it belongs
to. Steps keep their planned times however late the task wakes: the next step is planned from the
previous one's end, so the simulated timeline does not drift; only delivery can lag behind it.

Simulated faults (`faults`) are applied here, as tokens are produced, so that streaming and
non-streaming requests fail at the same point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sloserve.engine import core, events, requests
from sloserve.engine.server import faults

logger = logging.getLogger(__name__)


class EngineFailedError(RuntimeError):
    """The engine's clock task stopped on an error; no request can be served."""


@dataclass(frozen=True, slots=True)
class Update:
    """News for one request: a token (`token_index`), its completion (`finished`), or its end
    by an error: the engine stopping (`error`), or a simulated death (`died` also set)."""

    time: float
    token_index: int | None = None
    finished: requests.RequestStats | None = None
    error: str | None = None
    died: bool = False


class RequestHandle:
    """A submitted request. Its tokens arrive on `updates` (streaming requests only, followed
    by the final update); `completion` resolves with the final update (finished or failed)."""

    def __init__(
        self,
        spec: requests.RequestSpec,
        *,
        arrival: float,
        finish_reason: str,
        streaming: bool,
    ) -> None:
        self.spec = spec
        self.arrival = arrival
        self.finish_reason = finish_reason
        self.streaming = streaming
        self.last_token_time: float | None = None
        self.updates: asyncio.Queue[Update] = asyncio.Queue()
        self.completion: asyncio.Future[Update] = asyncio.get_running_loop().create_future()

    def deliver(self, update: Update) -> None:
        if self.streaming:
            self.updates.put_nowait(update)

    def conclude(self, update: Update) -> None:
        self.deliver(update)
        if not self.completion.done():
            self.completion.set_result(update)


class EventObserver(Protocol):
    """Told about every event, with the handle it concerns (metrics)."""

    def observe(self, event: events.EngineEvent, handle: RequestHandle) -> None: ...


class EngineRunner:
    """Owns an EngineCore and its clock; all calls must come from the event loop's thread."""

    def __init__(
        self,
        engine: core.EngineCore,
        *,
        observer: EventObserver | None = None,
        fault: Callable[[], faults.FaultSetting] = faults.FaultSetting,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self._observer = observer
        self._fault = fault
        self._clock = clock
        self._origin = clock() - engine.now
        self._handles: dict[str, RequestHandle] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failure: str | None = None

    def now(self) -> float:
        """The present in the engine's clock."""
        return max(self._clock() - self._origin, self.engine.now)

    async def start(self) -> None:
        """Start advancing the engine."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="engine-sim-clock")

    async def stop(self) -> None:
        """Stop advancing; every unfinished request gets an error update."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for request_id, handle in list(self._handles.items()):
            self.engine.abort_request(request_id, at=self.now())
            handle.conclude(Update(time=self.now(), error="the engine is shutting down"))
        self._handles.clear()

    def submit(
        self, spec: requests.RequestSpec, *, finish_reason: str, streaming: bool
    ) -> RequestHandle:
        """Hand `spec` to the engine now; raises ValueError if the engine refuses it and
        EngineFailedError if the engine has stopped."""
        if self.failure is not None:
            raise EngineFailedError(self.failure)
        arrival = self.now()
        self.engine.add_request(spec, at=arrival)
        handle = RequestHandle(
            spec, arrival=arrival, finish_reason=finish_reason, streaming=streaming
        )
        self._handles[spec.request_id] = handle
        self._wake.set()
        return handle

    def abort(self, request_id: str) -> bool:
        """Drop a request (its client went away); False if it had already ended."""
        handle = self._handles.pop(request_id, None)
        if handle is None:
            return False
        return self.engine.abort_request(request_id, at=self.now())

    def snapshot(self) -> core.EngineSnapshot:
        """The engine's load now."""
        self._dispatch(self.engine.advance(self.now()))
        return self.engine.snapshot()

    async def _run(self) -> None:
        try:
            while True:
                due = self.engine.next_event_time()
                if due is None:
                    await self._wake.wait()
                    self._wake.clear()
                    continue
                delay = due - self.now()
                if delay > 0:
                    await asyncio.sleep(delay)
                self._dispatch(self.engine.advance(self.now()))
                # let the requests' streams run between steps, even when steps take no time
                await asyncio.sleep(0)
        except Exception as error:
            logger.exception("the simulated engine failed; its requests are aborted")
            self.failure = f"the simulated engine failed: {error!r}"
            for handle in self._handles.values():
                handle.conclude(Update(time=self.now(), error=self.failure))
            self._handles.clear()

    def _dispatch(self, produced: list[events.EngineEvent]) -> None:
        for event in produced:
            handle = self._handles.get(event.request_id)
            if handle is None:
                continue
            if isinstance(event, events.FirstToken | events.Token):
                index = event.index if isinstance(event, events.Token) else 0
                if self._fails_at(handle, index, event.time):
                    continue
                if self._observer is not None:
                    self._observer.observe(event, handle)
                handle.last_token_time = event.time
                handle.deliver(Update(time=event.time, token_index=index))
                continue
            if self._observer is not None:
                self._observer.observe(event, handle)
            if isinstance(event, events.Finished):
                del self._handles[event.request_id]
                handle.conclude(Update(time=event.time, finished=event.stats))

    def _fails_at(self, handle: RequestHandle, index: int, time_s: float) -> bool:
        """Apply a simulated fault as token `index` is produced; True if the request died."""
        fault = self._fault()
        if fault.exits_after(index):
            logger.error("simulated fault 'exit': the process exits after %d tokens", index)
            os._exit(faults.EXIT_STATUS)
        if not fault.breaks_after(index):
            return False
        logger.warning("simulated fault 'die_mid_stream': request dropped after %d tokens", index)
        self.abort(handle.spec.request_id)
        message = f"simulated engine failure after {index} tokens (POST /sim/fault)"
        handle.conclude(Update(time=time_s, error=message, died=True))
        return True
