"""Engines that are starting, counted by the TTFT guard: a request the ready engines cannot give
its first token in time is admitted to a starting engine when that engine, once ready, can
prefill it before its deadline; the rest are refused with the reason.

An autoscaler that has asked for engines knows they come, and roughly when: the engine start
time measured on the model's pods (creation to ready). Refusing every request the ready engines
cannot take while capacity is on its way throws away what the new engines could have served in
time; admitting them all would promise the new engines more than they can do. So each starting
engine keeps the prefill work already promised to it, and a request goes to the starting engine
that gives it its first token earliest:

    first token ≈ max(now, ready at) + prefill promised there + the request's own prefill

and only when that is within its deadline. The estimate is deliberately simple (first come,
first prefilled on a fresh engine; decode of earlier requests does not slow the prefill): once
the engine is ready the request is submitted to the scheduler like any other, and the TTFT guard
decides again with the engine's real state.

Pure and clock-injected: times are seconds on the caller's clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ComingCapacity", "ComingEngine", "Promise", "first_token_at_s"]


@dataclass(slots=True)
class ComingEngine:
    """One starting engine: when it is expected ready, and the prefill promised to it."""

    ready_at_s: float
    promised_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Promise:
    """A request admitted to a starting engine: when that engine is expected ready and when the
    request's first token is expected."""

    ready_at_s: float
    first_token_at_s: float


def first_token_at_s(engine: ComingEngine, *, now_s: float, prefill_s: float) -> float:
    """When a request prefilling for `prefill_s` would get its first token on `engine`."""
    return max(now_s, engine.ready_at_s) + engine.promised_s + prefill_s


class ComingCapacity:
    """The starting engines of one model and what is promised to them. Not thread-safe."""

    def __init__(self) -> None:
        self._engines: list[ComingEngine] = []
        self._start_time_s = 0.0

    @property
    def engines(self) -> tuple[ComingEngine, ...]:
        """The starting engines, the earliest ready first."""
        return tuple(self._engines)

    def expect(self, count: int, *, now_s: float, start_time_s: float) -> None:
        """There are `count` engines asked for and not ready now. New ones are expected ready
        `start_time_s` from now (the caller first sees them now: a cautious start); when there
        are fewer than before, the earliest expected went (ready, or no longer asked for), and
        what was promised to them is forgotten: those requests are submitted to the scheduler
        once an engine is ready, as every request is."""
        if count < 0:
            raise ValueError(f"count must be ≥ 0, got {count}")
        if not (math.isfinite(start_time_s) and start_time_s >= 0):
            raise ValueError(f"start_time_s must be finite and ≥ 0, got {start_time_s}")
        self._start_time_s = start_time_s
        if count < len(self._engines):
            del self._engines[: len(self._engines) - count]
        while len(self._engines) < count:
            self._engines.append(ComingEngine(ready_at_s=now_s + start_time_s))

    def promise(self, *, now_s: float, deadline_s: float, prefill_s: float) -> Promise | None:
        """Admit a request (first token due by `deadline_s`, prefill `prefill_s`) to the
        starting engine that gives it its first token earliest, and count its prefill there;
        None, with nothing counted, when no starting engine gives it in time. An engine late by
        more than a whole start time (a pod that cannot be scheduled, an engine that crashes
        while it loads) is promised nothing more: it may never come."""
        if not (math.isfinite(prefill_s) and prefill_s >= 0):
            raise ValueError(f"prefill_s must be finite and ≥ 0, got {prefill_s}")
        best: ComingEngine | None = None
        best_at_s = math.inf
        for engine in self._engines:
            if now_s > engine.ready_at_s + self._start_time_s:
                continue
            at_s = first_token_at_s(engine, now_s=now_s, prefill_s=prefill_s)
            if at_s < best_at_s:
                best, best_at_s = engine, at_s
        if best is None or best_at_s > deadline_s:
            return None
        best.promised_s += prefill_s
        return Promise(ready_at_s=best.ready_at_s, first_token_at_s=best_at_s)

    def earliest_ready_at_s(self) -> float | None:
        """When the first starting engine is expected ready; None when none is starting."""
        return min((engine.ready_at_s for engine in self._engines), default=None)
