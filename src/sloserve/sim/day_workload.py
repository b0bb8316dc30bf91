"""Day-long workloads for autoscaling: a rate that follows the time of day, with or without
bursts, over the Azure trace's request lengths.

Arrivals come from a process at unit rate (Poisson, or Gamma for burstier gaps) in *operational
time*, mapped to real time through the inverse of the cumulative rate Λ(t) = ∫ λ: the classic
time change that turns a stationary process into one with rate λ(t). A day may be played
faster than real time (`day_s` below 86 400 s): the shape of the day is kept, compressed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from sloserve.sim import workload

__all__ = ["Burst", "DayShape", "day_workload"]

_NO_LIMITS = workload.LengthLimits()


@dataclasses.dataclass(frozen=True)
class Burst:
    """A stretch of the day at `factor` times the diurnal rate, from `start_s` for `length_s`."""

    start_s: float
    length_s: float
    factor: float


@dataclasses.dataclass(frozen=True)
class DayShape:
    """λ(t): a cosine from `trough_rps` (at the start and end of the day) to `peak_rps` at its
    middle, times any burst active at t."""

    day_s: float
    trough_rps: float
    peak_rps: float
    bursts: tuple[Burst, ...] = ()

    def __post_init__(self) -> None:
        if not (self.day_s > 0 and 0 < self.trough_rps <= self.peak_rps):
            raise ValueError("need day_s > 0 and 0 < trough_rps ≤ peak_rps")

    def rate_rps(self, t_s: np.ndarray) -> np.ndarray:
        """λ at each time of `t_s` (seconds from the start of the day)."""
        phase = (1 - np.cos(2 * math.pi * t_s / self.day_s)) / 2
        rate = self.trough_rps + (self.peak_rps - self.trough_rps) * phase
        for burst in self.bursts:
            inside = (t_s >= burst.start_s) & (t_s < burst.start_s + burst.length_s)
            rate = np.where(inside, rate * burst.factor, rate)
        rate_array: np.ndarray = rate
        return rate_array


def day_workload(
    shape: DayShape,
    *,
    arrivals: workload.Arrivals = workload.Arrivals.POISSON,
    classes: Sequence[workload.ClassShare] = workload.SCORPIO_CLASSES,
    limits: workload.LengthLimits = _NO_LIMITS,
    seed: int = 0,
    gamma_cv: float = 2.0,
    resolution_s: float = 1.0,
) -> list[workload.WorkloadRequest]:
    """One day of requests with rate `shape`, lengths drawn from the Azure trace, classes by
    weight. Reproducible from `seed`."""
    grid = np.arange(0.0, shape.day_s + resolution_s, resolution_s)
    rates = shape.rate_rps(grid)
    cumulative = np.concatenate(([0.0], np.cumsum((rates[1:] + rates[:-1]) / 2 * resolution_s)))
    expected = float(cumulative[-1])
    # Draw a few more than expected at unit rate, then keep those inside the day.
    count = int(expected + 6 * math.sqrt(expected) + 100)
    unit = workload.build_workload(
        count=count,
        rate_rps=1.0,
        arrivals=arrivals,
        classes=classes,
        limits=limits,
        seed=seed,
        gamma_cv=gamma_cv,
    )
    operational = np.array([request.arrival_s for request in unit])
    real = np.interp(operational, cumulative, grid)
    return [
        dataclasses.replace(request, arrival_s=float(when))
        for request, when, op in zip(unit, real, operational, strict=True)
        if op <= expected
    ]
