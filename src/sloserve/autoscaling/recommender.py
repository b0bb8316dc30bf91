"""The autoscaling decision: desired replicas from demand, predicted capacity and measured
attainment, on an injected clock.

Each call to `Recommender.decide` takes one observation (per-class demand over the last window,
measured attainment and queue time, replicas that exist, are ready and are draining) and returns
the replicas to ask for, with a machine-readable reason and a sentence that says why:

1. capacity: what one engine serves of the observed mix at the targets (`capacity`), times a
   feedback correction learned from measured attainment (below);
2. demand looked ahead by the engine start time: while a new engine starts, demand keeps
   growing at its recent slope, so scale-up sizes for the demand at the moment the engine is
   ready (cold starts are first-class);
3. recommendation = ⌈demand / capacity⌉ (0 with no demand at all);
4. scale-up: the lowest recommendation of the stabilization window, at most `max_surge` more
   than now; from zero, one engine (or more, up to the surge) at once: a held request waits;
5. scale-down: the highest recommendation of the scale-down delay window (so demand must stay
   low for the whole delay), never while engines removed earlier are still draining;
6. bounds: `min_replicas` ≤ desired ≤ `max_replicas`.

The feedback correction multiplies the predicted capacity. It shrinks when a class misses its
target although the ready engines should have sufficed (the model is optimistic: longer
prompts than it saw, co-located work, a slower GPU) or when requests wait long at the gateway,
and it grows back towards 1 — and above 1 only while every class holds its target at a load
the model calls full — when the objectives hold. It learns only from a window of figures
measured wholly on the engines ready now (`Observation.window_s`).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sloserve.autoscaling import capacity

__all__ = ["Decision", "Observation", "Reason", "Recommender", "ScalingSettings"]


class Reason:
    """The reasons a decision reports (CamelCase, as Kubernetes reasons are)."""

    DEMAND_ABOVE_CAPACITY = "DemandAboveCapacity"
    DEMAND_BELOW_CAPACITY = "DemandBelowCapacity"
    STEADY = "DemandMatchesCapacity"
    SCALE_UP_STABILIZING = "ScaleUpStabilizing"
    SCALE_DOWN_DELAYED = "ScaleDownDelayed"
    SURGE_LIMITED = "SurgeLimited"
    DRAIN_IN_PROGRESS = "DrainInProgress"
    AT_MAX_REPLICAS = "AtMaxReplicas"
    AT_MIN_REPLICAS = "AtMinReplicas"
    ACTIVATED_FROM_ZERO = "ActivatedFromZero"
    SCALED_TO_ZERO = "NoDemandScaledToZero"
    NO_METRICS = "NoMetrics"
    OBJECTIVES_UNATTAINABLE = "ObjectivesUnattainable"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScalingSettings:
    """Bounds and timing of one ModelService's autoscaling; times in seconds.

    `start_time_s`: expected time from asking for an engine to its readiness (measured).
    `correction_gain`: how strongly one window's attainment deficit shrinks the capacity
    (a deficit as large as the allowed miss rate, 1 − target, divides it by 1 + gain).
    `queue_pressure`: the share of the tightest class's TTFT a mean gateway queue time may reach
    before it counts as a sign of too little capacity. `max_step`: the most one decision
    divides the correction by.
    """

    min_replicas: int
    max_replicas: int
    scale_up_stabilization_s: float = 0.0
    scale_down_delay_s: float = 300.0
    max_surge: int = 2
    start_time_s: float = 60.0
    correction_gain: float = 0.5
    min_correction: float = 0.25
    max_correction: float = 1.5
    queue_pressure: float = 0.25
    max_step: float = 1.1

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError(
                f"need 0 ≤ min_replicas ≤ max_replicas and max_replicas ≥ 1, got"
                f" {self.min_replicas} and {self.max_replicas}"
            )
        if self.max_surge < 1:
            raise ValueError(f"max_surge must be at least 1, got {self.max_surge}")
        for name in ("scale_up_stabilization_s", "scale_down_delay_s", "start_time_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and ≥ 0, got {value}")
        if not 0 < self.min_correction <= 1 <= self.max_correction:
            raise ValueError("need 0 < min_correction ≤ 1 ≤ max_correction")
        if not self.max_step > 1:
            raise ValueError(f"max_step must be above 1, got {self.max_step}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """What the controller sees at one decision.

    `demand`: per-class arrival rates and lengths over the last window, None when the gateway's
    figures could not be read. `attainment`: measured per class over the same window (None for
    a class without ended requests). `queue_time_s`: mean time requests waited at the gateway.
    `current_replicas`: replicas asked for now (ready or starting); `ready_replicas`: ready;
    `draining_replicas`: engines removed earlier that still finish their requests.
    `held_requests`: requests the gateway holds for want of any engine (scale from zero).
    `window_s`: the span the demand and attainment figures cover (0: unknown). The correction
    learns only from a window measured wholly on the engines ready now.
    """

    now_s: float
    demand: Sequence[capacity.ClassDemand] | None
    attainment: Mapping[str, float | None]
    queue_time_s: float | None
    current_replicas: int
    ready_replicas: int
    draining_replicas: int = 0
    held_requests: int = 0
    window_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Replicas to ask for and why. `capacity_rps`: one engine's capacity after the correction."""

    desired_replicas: int
    recommended_replicas: int
    reason: str
    message: str
    demand_rps: float | None
    capacity_rps: float | None
    correction: float


CapacityFunction = Callable[[Sequence[capacity.ClassDemand]], float]


class Recommender:
    """The decision of one ModelService, with the history its windows need. Not thread-safe.

    `capacity_of`: one engine's capacity for a mix (`capacity.engine_capacity_rps` bound to the
    latency model and engine limits). Calls must come in non-decreasing `now_s`.
    """

    def __init__(self, settings: ScalingSettings, *, capacity_of: CapacityFunction) -> None:
        self.settings = settings
        self._capacity_of = capacity_of
        self._correction = 1.0
        self._first_s: float | None = None
        self._recommendations: collections.deque[tuple[float, int]] = collections.deque()
        self._demand: collections.deque[tuple[float, float]] = collections.deque()
        # Since when the ready engines are the ones ready now.
        self._ready: tuple[int, float] | None = None

    @property
    def correction(self) -> float:
        """The current feedback correction of the predicted capacity."""
        return self._correction

    def decide(self, observation: Observation) -> Decision:
        """The replicas to ask for now."""
        now_s = observation.now_s
        if self._first_s is None:
            self._first_s = now_s
        current = observation.current_replicas
        if observation.demand is None:
            return self._keep(current, Reason.NO_METRICS, "the gateway's figures are unavailable")
        demand = tuple(observation.demand)
        total = sum(item.rate_rps for item in demand)
        raw_capacity = self._capacity_of(demand) if demand else 0.0
        if demand and raw_capacity <= 0:
            return self._keep(
                current,
                Reason.OBJECTIVES_UNATTAINABLE,
                "no engine can meet some class's objectives even without load; more engines"
                " would not help",
                demand_rps=total,
            )
        self._note_ready(observation)
        self._update_correction(observation, demand, raw_capacity)
        engine_rps = raw_capacity * self._correction
        forecast = self._forecast(now_s, total)
        if total <= 0 and observation.held_requests == 0:
            recommended = 0
        else:
            recommended = max(1, math.ceil(forecast / engine_rps - 1e-9)) if engine_rps else 1
        self._remember(now_s, recommended)
        desired, reason = self._stabilized(observation, recommended)
        bounded = min(max(desired, self.settings.min_replicas), self.settings.max_replicas)
        if bounded != desired:
            reason = Reason.AT_MAX_REPLICAS if bounded < desired else Reason.AT_MIN_REPLICAS
        elif reason == Reason.SCALE_DOWN_DELAYED and current <= self.settings.min_replicas:
            # No delay holds an engine that minReplicas keeps anyway: say why it stays.
            reason = Reason.AT_MIN_REPLICAS
        message = (
            f"demand {total:.2f} req/s (looking {self.settings.start_time_s:g} s ahead:"
            f" {forecast:.2f}), one engine serves {engine_rps:.2f} req/s of this mix at the"
            f" targets (model {raw_capacity:.2f} × correction {self._correction:.2f}):"
            f" {recommended} recommended, {current} asked for, {observation.ready_replicas}"
            f" ready → {bounded}"
        )
        return Decision(
            desired_replicas=bounded,
            recommended_replicas=recommended,
            reason=reason,
            message=message,
            demand_rps=total,
            capacity_rps=engine_rps,
            correction=self._correction,
        )

    def _keep(
        self, current: int, reason: str, why: str, *, demand_rps: float | None = None
    ) -> Decision:
        bounded = min(max(current, self.settings.min_replicas), self.settings.max_replicas)
        return Decision(
            desired_replicas=bounded,
            recommended_replicas=current,
            reason=reason if bounded == current else Reason.AT_MIN_REPLICAS,
            message=f"{why}: keeping {bounded} replicas",
            demand_rps=demand_rps,
            capacity_rps=None,
            correction=self._correction,
        )

    def _note_ready(self, observation: Observation) -> None:
        ready = observation.ready_replicas
        if self._ready is None or self._ready[0] != ready:
            self._ready = (ready, observation.now_s)

    def _measured_on_these_engines(self, observation: Observation) -> bool:
        """Whether the figures' whole window was measured on the engines ready now: a window
        that began before an engine came (or went) holds the misses of a smaller (or larger)
        fleet, which say nothing about the capacity of this one."""
        assert self._ready is not None
        return observation.now_s - self._ready[1] >= observation.window_s

    def _update_correction(
        self,
        observation: Observation,
        demand: Sequence[capacity.ClassDemand],
        raw_capacity: float,
    ) -> None:
        settings = self.settings
        ready = observation.ready_replicas
        total = sum(item.rate_rps for item in demand)
        if ready < 1 or total <= 0:
            return
        load = total / (ready * raw_capacity * self._correction)
        deficit = 0.0
        measured_any = False
        for item in demand:
            measured = observation.attainment.get(item.name)
            if measured is None:
                continue
            measured_any = True
            allowed_miss = max(1e-3, 1 - item.target_attainment)
            deficit = max(deficit, (item.target_attainment - measured) / allowed_miss)
        tightest_ttft = min(item.ttft_s for item in demand)
        queued = observation.queue_time_s is not None and (
            observation.queue_time_s > settings.queue_pressure * tightest_ttft
        )
        settled = ready >= observation.current_replicas and self._measured_on_these_engines(
            observation
        )
        # One window's figures are noisy (a few late requests), so one decision moves the
        # correction by at most `max_step`: a sustained deficit still halves it within minutes.
        if deficit > 0 and load <= 1.0 and settled:
            # The model said the ready engines suffice, yet a class missed: it is optimistic.
            self._correction /= min(settings.max_step, 1 + settings.correction_gain * deficit)
        elif queued and load <= 1.0 and settled:
            self._correction /= min(settings.max_step, 1 + settings.correction_gain * 0.25)
        elif measured_any and deficit <= 0 and not queued:
            if self._correction < 1:
                self._correction = min(1.0, self._correction * 1.05)
            elif load >= 0.9:
                # Full by the model's reckoning and still on target: the model is pessimistic.
                self._correction *= 1.02
        self._correction = min(
            max(self._correction, settings.min_correction), settings.max_correction
        )

    def _forecast(self, now_s: float, total: float) -> float:
        """Demand when an engine asked for now would be ready: now's, plus the recent upward
        slope times the start time (a falling demand is not extrapolated down)."""
        lookback_s = max(60.0, self.settings.start_time_s)
        history = self._demand
        history.append((now_s, total))
        while history and history[0][0] < now_s - lookback_s:
            history.popleft()
        oldest_s, oldest = history[0]
        if now_s - oldest_s <= 0:
            return total
        slope = (total - oldest) / (now_s - oldest_s)
        return total + max(0.0, slope) * self.settings.start_time_s

    def _remember(self, now_s: float, recommended: int) -> None:
        window_s = max(self.settings.scale_up_stabilization_s, self.settings.scale_down_delay_s)
        history = self._recommendations
        history.append((now_s, recommended))
        while history and history[0][0] < now_s - window_s:
            history.popleft()

    def _window(self, now_s: float, window_s: float) -> list[int]:
        return [value for when, value in self._recommendations if when >= now_s - window_s]

    def _stabilized(self, observation: Observation, recommended: int) -> tuple[int, str]:
        settings = self.settings
        now_s = observation.now_s
        current = observation.current_replicas
        if current == 0 and recommended > 0:
            return min(recommended, settings.max_surge), Reason.ACTIVATED_FROM_ZERO
        if recommended > current:
            lowest = min(self._window(now_s, settings.scale_up_stabilization_s))
            if lowest <= current:
                return current, Reason.SCALE_UP_STABILIZING
            if lowest > current + settings.max_surge:
                return current + settings.max_surge, Reason.SURGE_LIMITED
            return lowest, Reason.DEMAND_ABOVE_CAPACITY
        if recommended < current:
            assert self._first_s is not None
            if now_s - self._first_s < settings.scale_down_delay_s:
                return current, Reason.SCALE_DOWN_DELAYED
            highest = max(self._window(now_s, settings.scale_down_delay_s))
            if highest >= current:
                return current, Reason.SCALE_DOWN_DELAYED
            if observation.draining_replicas > 0:
                return current, Reason.DRAIN_IN_PROGRESS
            if highest == 0:
                return 0, Reason.SCALED_TO_ZERO
            return highest, Reason.DEMAND_BELOW_CAPACITY
        return current, Reason.STEADY
