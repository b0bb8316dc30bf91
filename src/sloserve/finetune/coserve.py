"""The co-serving control core: how much GPU time fine-tuning may take beside inference.

Pure and clock-injected (the caller passes `now_s`), shared by the operator's controller and the
simulator benchmark.

- **Headroom** of an inference class, in one number: 1 is far from its objectives, 0 at them,
  below 0 missing them. It is the smallest of the class's attainment margin over its target
  attainment (`(attainment − target) / (1 − target)`) and its predicted TTFT and TPOT margins
  (`1 − predicted / objective`), over whichever of those are known.
- **Throttle** (`ThrottleController`): additive increase, multiplicative decrease on the job's
  share of GPU time. Below `low` headroom the share is cut by `backoff` at once (every decision
  while it stays low), down to 0 (paused) under `min_share`; above `high` it ramps up by `ramp`
  per `ramp_interval_s`, after `hold_s` since the last cut; in between it holds. A job paused
  for `evict_after_s` while headroom stays below `low` is evicted to its checkpoint, freeing
  the GPU's memory too. An optional `cap` (from the interference table: the largest share whose
  predicted slowdown keeps the tightest class within its TPOT) bounds the share from the model
  side, before attainment has had time to fall.
- **Packing** (ASPEN): jobs training adapters of the same base model share one worker, which
  holds the base weights once; `pack` groups them, highest priority first, at most
  `max_jobs_per_worker` each, and `split_share` divides a worker's share among its jobs by
  priority.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ClassSignals",
    "FineTuneDemand",
    "Pack",
    "ThrottleAction",
    "ThrottleController",
    "ThrottleDecision",
    "ThrottleSettings",
    "class_headroom",
    "pack",
    "smallest_headroom",
    "split_share",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassSignals:
    """What is known of one inference class beside the job; None where unknown."""

    name: str
    attainment: float | None = None
    target_attainment: float = 0.99
    predicted_ttft_s: float | None = None
    ttft_s: float | None = None
    predicted_tpot_s: float | None = None
    tpot_s: float | None = None


def class_headroom(signals: ClassSignals) -> float | None:
    """The class's headroom (see the module docstring), or None when nothing is known."""
    margins: list[float] = []
    if signals.attainment is not None:
        spare = 1.0 - signals.target_attainment
        margins.append((signals.attainment - signals.target_attainment) / max(spare, 1e-6))
    if signals.predicted_ttft_s is not None and signals.ttft_s:
        margins.append(1.0 - signals.predicted_ttft_s / signals.ttft_s)
    if signals.predicted_tpot_s is not None and signals.tpot_s:
        margins.append(1.0 - signals.predicted_tpot_s / signals.tpot_s)
    return min(margins) if margins else None


def smallest_headroom(classes: Iterable[ClassSignals]) -> tuple[float | None, str]:
    """The smallest headroom among `classes` and the name of the class that has it
    (None and "" when no class has any signal)."""
    lowest: float | None = None
    name = ""
    for signals in classes:
        headroom = class_headroom(signals)
        if headroom is not None and (lowest is None or headroom < lowest):
            lowest, name = headroom, signals.name
    return lowest, name


class ThrottleAction(enum.StrEnum):
    """What the worker is told."""

    RUN = "run"
    PAUSE = "pause"
    EVICT = "evict"


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleSettings:
    """The throttle's thresholds and rates; see the module docstring."""

    low: float = 0.2
    high: float = 0.5
    backoff: float = 0.5
    ramp: float = 0.05
    ramp_interval_s: float = 5.0
    hold_s: float = 15.0
    min_share: float = 0.02
    max_share: float = 1.0
    evict_after_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if not 0 < self.backoff < 1:
            raise ValueError(f"backoff must be in (0, 1), got {self.backoff}")
        if not 0 < self.min_share <= self.max_share <= 1:
            raise ValueError("shares must satisfy 0 < min_share <= max_share <= 1")
        if self.ramp <= 0 or self.ramp_interval_s <= 0 or self.hold_s < 0:
            raise ValueError("ramp and ramp_interval_s must be above 0, hold_s at least 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleDecision:
    """The share the job may use now, what the worker does, and why."""

    share: float
    action: ThrottleAction
    reason: str
    headroom: float | None


class ThrottleController:
    """The throttle of one job (or one packed worker). Not thread-safe."""

    def __init__(self, settings: ThrottleSettings, *, now_s: float, share: float = 0.0) -> None:
        self.settings = settings
        self._share = min(max(share, 0.0), settings.max_share)
        self._last_cut_s = -math.inf
        self._last_ramp_s = now_s
        self._paused_low_since: float | None = None

    @property
    def share(self) -> float:
        """The share last decided."""
        return self._share

    def decide(
        self, now_s: float, headroom: float | None, *, limiting: str = "", cap: float = 1.0
    ) -> ThrottleDecision:
        """The share from now, given the smallest neighbour headroom (None: no signal, which
        holds the share: a job never ramps up on a blind spot)."""
        settings = self.settings
        ceiling = min(settings.max_share, max(cap, 0.0))
        if headroom is not None and headroom < settings.low:
            share = self._share * settings.backoff
            self._share = 0.0 if share < settings.min_share else share
            self._last_cut_s = now_s
            reason = f"{limiting or 'inference'} headroom {headroom:.2f} below {settings.low:g}"
        elif (
            headroom is not None
            and headroom > settings.high
            and now_s - self._last_cut_s >= settings.hold_s
            and now_s - self._last_ramp_s >= settings.ramp_interval_s
        ):
            self._share = max(self._share + settings.ramp, settings.min_share)
            self._last_ramp_s = now_s
            reason = f"headroom {headroom:.2f} above {settings.high:g}"
        else:
            reason = "no SLO figures" if headroom is None else f"headroom {headroom:.2f}: holding"
        if self._share > ceiling:
            self._share = ceiling
            bound = "predicted interference" if cap < settings.max_share else "maxShare"
            reason = f"{bound} caps the share at {ceiling:.2f}"
        return ThrottleDecision(
            share=self._share,
            action=self._action(now_s, headroom),
            reason=reason,
            headroom=headroom,
        )

    def _action(self, now_s: float, headroom: float | None) -> ThrottleAction:
        if self._share > 0:
            self._paused_low_since = None
            return ThrottleAction.RUN
        low = headroom is not None and headroom < self.settings.low
        if not low:
            self._paused_low_since = None
            return ThrottleAction.PAUSE
        if self._paused_low_since is None:
            self._paused_low_since = now_s
        if now_s - self._paused_low_since >= self.settings.evict_after_s:
            return ThrottleAction.EVICT
        return ThrottleAction.PAUSE


@dataclass(frozen=True, slots=True, kw_only=True)
class FineTuneDemand:
    """A job as packing sees it: what it adapts, where, and how much it matters."""

    name: str
    base: str
    priority: int = 0
    memory_gib: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Pack:
    """Jobs that one worker trains together on one copy of `base`."""

    base: str
    jobs: tuple[FineTuneDemand, ...]


def pack(
    jobs: Sequence[FineTuneDemand],
    *,
    max_jobs_per_worker: int = 4,
    memory_budget_gib: float = math.inf,
) -> list[Pack]:
    """Group jobs by base model (ASPEN), highest priority first (then by name), each group at
    most `max_jobs_per_worker` jobs and `memory_budget_gib` of adapter and optimizer memory."""
    if max_jobs_per_worker < 1:
        raise ValueError(f"max_jobs_per_worker must be at least 1, got {max_jobs_per_worker}")
    by_base: dict[str, list[FineTuneDemand]] = {}
    for job in sorted(jobs, key=lambda job: (-job.priority, job.name)):
        by_base.setdefault(job.base, []).append(job)
    packs: list[Pack] = []
    for base in sorted(by_base):
        current: list[FineTuneDemand] = []
        used = 0.0
        for job in by_base[base]:
            full = len(current) >= max_jobs_per_worker or used + job.memory_gib > memory_budget_gib
            if current and full:
                packs.append(Pack(base=base, jobs=tuple(current)))
                current, used = [], 0.0
            current.append(job)
            used += job.memory_gib
        if current:
            packs.append(Pack(base=base, jobs=tuple(current)))
    return packs


def split_share(share: float, jobs: Sequence[FineTuneDemand]) -> dict[str, float]:
    """A worker's share divided among its jobs by weight `2^(priority/100)` (a job 100 priority
    points above another gets twice its time); the parts add up to `share`."""
    if not jobs:
        return {}
    weights = {job.name: 2.0 ** (job.priority / 100.0) for job in jobs}
    total = sum(weights.values())
    return {name: share * weight / total for name, weight in weights.items()}
