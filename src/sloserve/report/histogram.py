"""Quantiles and shares of a Prometheus histogram from its bucket counts.

Linear interpolation inside the bucket that holds the rank, the lowest bucket starting at zero, as
PromQL's `histogram_quantile` does, so the report agrees with a Grafana panel over the same data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True)
class CumulativeBuckets:
    """A histogram as (upper bound, cumulative count) pairs, bounds ascending, the last +Inf.

    Counts are made non-decreasing on construction: increases of the separate bucket series can
    disagree slightly (a restarted bucket series read with Prometheus' extrapolating `increase()`,
    or buckets scraped a moment apart), never meaningfully.
    """

    bounds: tuple[float, ...]
    counts: tuple[float, ...]

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[float, float]]) -> CumulativeBuckets:
        """Buckets from (upper bound, cumulative count) pairs in any order. A missing +Inf bucket
        is added with the highest count, so every observation is inside some bucket."""
        merged: dict[float, float] = {}
        for bound, count in pairs:
            merged[bound] = merged.get(bound, 0.0) + count
        ordered = sorted(merged.items())
        if not ordered or not math.isinf(ordered[-1][0]):
            ordered.append((math.inf, ordered[-1][1] if ordered else 0.0))
        running = 0.0
        counts = []
        for _, count in ordered:
            running = max(running, count)
            counts.append(running)
        return cls(bounds=tuple(bound for bound, _ in ordered), counts=tuple(counts))

    @property
    def total(self) -> float:
        return self.counts[-1]

    def per_bucket(self) -> list[tuple[float, float]]:
        """(upper bound, observations in that bucket alone) pairs."""
        previous = 0.0
        result = []
        for bound, count in zip(self.bounds, self.counts, strict=True):
            result.append((bound, count - previous))
            previous = count
        return result

    def quantile(self, q: float) -> tuple[float, bool] | None:
        """The `q`-quantile (0 <= q <= 1) in the histogram's unit, and whether it is only a lower
        bound (the rank falls in the +Inf bucket, so the true value is above the highest finite
        bound). None without observations or without a finite bucket."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be within [0, 1], got {q}")
        if self.total <= 0 or len(self.bounds) < 2:
            return None
        rank = q * self.total
        index = next(i for i, count in enumerate(self.counts) if count >= rank)
        if math.isinf(self.bounds[index]):
            return self.bounds[-2], True
        upper = self.bounds[index]
        lower = self.bounds[index - 1] if index > 0 else 0.0
        if index == 0 and upper <= 0:
            return upper, False
        below = self.counts[index - 1] if index > 0 else 0.0
        inside = self.counts[index] - below
        if inside <= 0:
            return upper, False
        return lower + (upper - lower) * (rank - below) / inside, False

    def share_at_or_below(self, value: float) -> float | None:
        """The share of observations at or below `value`, interpolating linearly inside its bucket.
        Observations in the +Inf bucket count as above any finite `value`. None when empty."""
        if self.total <= 0:
            return None
        lower, below = 0.0, 0.0
        for bound, count in zip(self.bounds, self.counts, strict=True):
            if math.isinf(bound):
                break
            if value <= bound:
                if value <= lower:
                    return below / self.total
                inside = (count - below) * (value - lower) / (bound - lower)
                return (below + inside) / self.total
            lower, below = bound, count
        return below / self.total
