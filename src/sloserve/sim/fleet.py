"""Autoscaling in the simulator: engines that start (after a start latency), serve, drain and go,
as a scaling policy asks every control interval.

The event loop owns the engines; this module owns what a controller knows and does:

- the windowed figures a controller reads from the gateway (`FleetView`): per-class arrival
  rates and mean lengths, per-class attainment of the requests that ended, mean gateway queue
  time, and the engines' own figures (waiting and running requests, KV-cache use);
- the plan that turns a desired count into starts and drains: a scale-up asks for engines that
  become ready `start_time_s` later (a GPU is held from the request on), a scale-down first
  cancels engines still starting, then drains the ready ones holding the fewest requests; a
  draining engine takes no new request, finishes those it holds (no stream fails), then goes;
- GPU-seconds: every engine from the moment it was asked for until it is gone.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sloserve.scheduling import engine_state
from sloserve.sim import records

__all__ = [
    "ClassWindow",
    "EngineFigures",
    "Fleet",
    "FleetView",
    "Plan",
    "ScalingConfig",
    "ScalingPolicy",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassWindow:
    """One class over the last window: arrivals per second, mean lengths, attainment of the
    requests that ended (None when none ended), rejections."""

    name: str
    ttft_s: float
    tpot_s: float
    rate_rps: float
    mean_prompt_tokens: float
    mean_output_tokens: float
    attainment: float | None
    ended: int
    rejected: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineFigures:
    """What an engine's `/metrics` says: vLLM's running and waiting gauges and KV-cache use."""

    running: int
    waiting: int
    kv_usage: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetView:
    """What a controller sees at one decision."""

    now_s: float
    window_s: float
    classes: tuple[ClassWindow, ...]
    queue_time_s: float | None
    gateway_waiting: int
    engines: tuple[EngineFigures, ...]
    current_replicas: int
    ready_replicas: int
    draining_replicas: int


class ScalingPolicy(Protocol):
    """A scaler: the number of engines wanted, from what it sees."""

    name: str

    def desired_replicas(self, view: FleetView) -> int:
        """Engines wanted now (the fleet clamps it at zero)."""
        ...


@dataclass(frozen=True, kw_only=True)
class ScalingConfig:
    """How the simulated cluster scales.

    `initial_replicas` are ready at the start. `start_time_s`: from an engine's request to its
    readiness. `interval_s`: how often the policy decides. `window_s`: the span the figures
    cover. `kv_cache_tokens`: one engine's KV cache, for the KV-use figure.
    """

    policy: ScalingPolicy
    initial_replicas: int
    start_time_s: float = 60.0
    interval_s: float = 15.0
    window_s: float = 60.0
    kv_cache_tokens: int = 1

    def __post_init__(self) -> None:
        if self.initial_replicas < 1:
            raise ValueError("initial_replicas must be at least 1: the first requests need one")
        if not (self.interval_s > 0 and self.window_s >= self.interval_s):
            raise ValueError("need interval_s > 0 and window_s ≥ interval_s")
        if not (math.isfinite(self.start_time_s) and self.start_time_s >= 0):
            raise ValueError(f"start_time_s must be finite and ≥ 0, got {self.start_time_s}")


@dataclass(slots=True)
class _Bucket:
    arrivals: collections.Counter[str] = field(default_factory=collections.Counter)
    prompt_tokens: collections.Counter[str] = field(default_factory=collections.Counter)
    output_tokens: collections.Counter[str] = field(default_factory=collections.Counter)
    ended: collections.Counter[str] = field(default_factory=collections.Counter)
    attained: collections.Counter[str] = field(default_factory=collections.Counter)
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    queue_s: float = 0.0
    dispatched: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What the loop must do now: start this many engines (ready later), cancel this many
    starting ones, drain these ready ones."""

    start: int
    cancel: int
    drain: tuple[str, ...]


class Fleet:
    """The controller side of an autoscaled simulation. Not thread-safe."""

    def __init__(self, config: ScalingConfig, *, start_s: float) -> None:
        self.config = config
        self._targets: dict[str, tuple[float, float]] = {}
        self._buckets: collections.deque[tuple[float, _Bucket]] = collections.deque()
        self._bucket = _Bucket()
        self._started_s = start_s
        self.next_decision_s = start_s + config.interval_s
        # starting engines' ready times, in request order
        self.starting: list[float] = []
        self.draining: set[str] = set()
        self.gpu_seconds = 0.0
        self._alive_since: dict[str, float] = {}
        self._starting_since: list[float] = []
        self.replica_series: list[tuple[float, int]] = [(start_s, config.initial_replicas)]

    def next_event_s(self) -> float:
        """The next decision or engine readiness."""
        ready = self.starting[0] if self.starting else math.inf
        return min(self.next_decision_s, ready)

    # -- what the gateway counts ---------------------------------------------------------

    def arrived(
        self, *, slo_class: str, ttft_s: float, tpot_s: float, prompt: int, output: int
    ) -> None:
        """A request arrived at the gateway."""
        self._targets.setdefault(slo_class, (ttft_s, tpot_s))
        bucket = self._bucket
        bucket.arrivals[slo_class] += 1
        bucket.prompt_tokens[slo_class] += prompt
        bucket.output_tokens[slo_class] += output

    def dispatched(self, *, waited_s: float) -> None:
        """A request left the gateway's queue for an engine after `waited_s`."""
        self._bucket.queue_s += waited_s
        self._bucket.dispatched += 1

    def ended(self, record: records.RequestRecord) -> None:
        """A request ended (served or rejected)."""
        bucket = self._bucket
        bucket.ended[record.slo_class] += 1
        if record.attained:
            bucket.attained[record.slo_class] += 1
        if record.outcome is records.Outcome.REJECTED:
            bucket.rejected[record.slo_class] += 1

    # -- engines' lives -------------------------------------------------------------------

    def engine_ready(self, engine_id: str, *, asked_s: float) -> None:
        """An engine asked for at `asked_s` became ready."""
        self._alive_since[engine_id] = asked_s

    def engine_gone(self, engine_id: str, *, now_s: float) -> None:
        """A drained engine finished its last request and went away."""
        self.draining.discard(engine_id)
        self.gpu_seconds += now_s - self._alive_since.pop(engine_id)

    def pop_ready(self, now_s: float) -> list[float]:
        """The request times of the engines whose start completes by `now_s`."""
        done: list[float] = []
        while self.starting and self.starting[0] <= now_s:
            self.starting.pop(0)
            done.append(self._starting_since.pop(0))
        return done

    def finish(self, now_s: float, alive: Sequence[str]) -> None:
        """The run ended: count the GPU time of what is still alive or starting."""
        for engine_id in alive:
            self.gpu_seconds += now_s - self._alive_since.pop(engine_id)
        self.gpu_seconds += sum(now_s - since for since in self._starting_since)
        self._starting_since.clear()
        self.starting.clear()

    # -- deciding ------------------------------------------------------------------------

    def decide(
        self,
        now_s: float,
        *,
        serving: Sequence[tuple[str, int, engine_state.EngineState]],
        gateway_waiting: int,
    ) -> Plan:
        """Close the current bucket, ask the policy, and plan the change. `serving`: (engine
        id, requests it holds, its snapshot) of every ready engine that is not draining."""
        self._buckets.append((now_s, self._bucket))
        self._bucket = _Bucket()
        while self._buckets and self._buckets[0][0] <= now_s - self.config.window_s:
            self._buckets.popleft()
        self.next_decision_s = now_s + self.config.interval_s
        view = self._view(now_s, serving=serving, gateway_waiting=gateway_waiting)
        # The simulated gateway does not hold requests while an engine starts from zero (the
        # real one does): at least one engine stays while requests may come.
        desired = max(1, self.config.policy.desired_replicas(view))
        current = view.current_replicas
        self.replica_series.append((now_s, desired))
        if desired > current:
            for _ in range(desired - current):
                self.starting.append(now_s + self.config.start_time_s)
                self._starting_since.append(now_s)
            return Plan(start=desired - current, cancel=0, drain=())
        surplus = current - desired
        cancel = min(surplus, len(self.starting))
        for _ in range(cancel):
            self.starting.pop()
            self.gpu_seconds += now_s - self._starting_since.pop()
        surplus -= cancel
        by_load = sorted(serving, key=lambda item: (item[1], item[0]))
        drain = tuple(engine_id for engine_id, _, _ in by_load[:surplus])
        self.draining.update(drain)
        return Plan(start=0, cancel=cancel, drain=drain)

    def _view(
        self,
        now_s: float,
        *,
        serving: Sequence[tuple[str, int, engine_state.EngineState]],
        gateway_waiting: int,
    ) -> FleetView:
        window_s = min(self.config.window_s, max(1e-9, now_s - self._started_s))
        total = _Bucket()
        for _, bucket in self._buckets:
            for name in (
                "arrivals",
                "prompt_tokens",
                "output_tokens",
                "ended",
                "attained",
                "rejected",
            ):
                getattr(total, name).update(getattr(bucket, name))
            total.queue_s += bucket.queue_s
            total.dispatched += bucket.dispatched
        classes = []
        for name, (ttft_s, tpot_s) in sorted(self._targets.items()):
            count = total.arrivals[name]
            ended = total.ended[name]
            classes.append(
                ClassWindow(
                    name=name,
                    ttft_s=ttft_s,
                    tpot_s=tpot_s,
                    rate_rps=count / window_s,
                    mean_prompt_tokens=total.prompt_tokens[name] / count if count else 0.0,
                    mean_output_tokens=total.output_tokens[name] / count if count else 0.0,
                    attainment=total.attained[name] / ended if ended else None,
                    ended=ended,
                    rejected=total.rejected[name],
                )
            )
        kv_tokens = max(1, self.config.kv_cache_tokens)
        engines = tuple(
            EngineFigures(
                running=len(snapshot.running) - snapshot.waiting_requests,
                waiting=snapshot.waiting_requests,
                kv_usage=(
                    0.0
                    if snapshot.kv_free_tokens is None
                    else min(1.0, max(0.0, 1 - snapshot.kv_free_tokens / kv_tokens))
                ),
            )
            for _, _, snapshot in serving
        )
        return FleetView(
            now_s=now_s,
            window_s=window_s,
            classes=tuple(classes),
            queue_time_s=total.queue_s / total.dispatched if total.dispatched else None,
            gateway_waiting=gateway_waiting,
            engines=engines,
            current_replicas=len(serving) + len(self.starting),
            ready_replicas=len(serving),
            draining_replicas=len(self.draining),
        )
