"""The predictor's inputs: a candidate's and its neighbours' solo series stacked into one array,
and the summary features the baselines read.

Layout of one input: `(SLOTS, steps, metrics)`; slot 0 is the candidate (the workload whose P is
predicted), slots 1.. its neighbours. A GPU with fewer neighbours than slots fills the rest with
the idle kind's series (a resident process doing nothing), which is how the dataset measured
pairs beside idle. With more neighbours than slots, the heaviest by mean utilization are kept:
the dataset has no co-location of more than three workloads to learn from.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np

from sloserve.placement.series import FloatArray, MetricSeries, resample

__all__ = [
    "LOAD_METRIC",
    "NEIGHBOUR_SLOTS",
    "SLOTS",
    "PreparedSeries",
    "stack_inputs",
    "summary_features",
]

NEIGHBOUR_SLOTS = 2
SLOTS = 1 + NEIGHBOUR_SLOTS
#: The metric that ranks neighbours by load, and that the sum-of-utilizations baseline adds up.
LOAD_METRIC = "sm_util_pct"


@dataclasses.dataclass(frozen=True, eq=False)
class PreparedSeries:
    """A series restricted to the model's metrics, in its order, resampled to its steps: ready
    to stack. Prepare once and reuse; stacking prepared series costs only a copy."""

    values: FloatArray
    load: float
    """Mean of LOAD_METRIC over the series: what ranks neighbours."""

    @classmethod
    def of(cls, series: MetricSeries, *, metrics: Sequence[str], steps: int) -> PreparedSeries:
        """Raises KeyError naming the model metrics `series` lacks."""
        return cls(resample(series.select(metrics).values, steps), series.mean(LOAD_METRIC))

    # Summary statistics over time, computed once per prepared series: the tree predictor's
    # features are built from them for every row that involves the series, so a scheduling
    # request with a few hundred rows costs lookups, not reductions. Each is reduced exactly as
    # `summary_features` reduces a stacked batch, so both give the same numbers.
    @functools.cached_property
    def means(self) -> FloatArray:
        return np.asarray(self.values[np.newaxis].mean(axis=1)[0], dtype=np.float32)

    @functools.cached_property
    def stds(self) -> FloatArray:
        return np.asarray(self.values[np.newaxis].std(axis=1)[0], dtype=np.float32)

    @functools.cached_property
    def maxima(self) -> FloatArray:
        return np.asarray(self.values[np.newaxis].max(axis=1)[0], dtype=np.float32)


def stack_inputs(
    candidate: PreparedSeries, neighbours: Sequence[PreparedSeries], idle: PreparedSeries
) -> FloatArray:
    """One model input, `(SLOTS, steps, metrics)`: the candidate, then its neighbours (the
    heaviest NEIGHBOUR_SLOTS of them when there are more), then `idle` in any empty slot."""
    kept = sorted(neighbours, key=lambda series: series.load, reverse=True)[:NEIGHBOUR_SLOTS]
    slots = [candidate, *kept] + [idle] * (NEIGHBOUR_SLOTS - len(kept))
    return np.stack([series.values for series in slots])


def summary_features(inputs: FloatArray, modes: FloatArray) -> FloatArray:
    """Per input (`(batch, SLOTS, steps, metrics)`): the candidate's mean, std and max of each
    metric, the neighbours' summed and largest means of each metric, and the sharing mode, as
    `(batch, features)` for the linear and tree baselines."""
    candidate = inputs[:, 0]
    neighbour_means = inputs[:, 1:].mean(axis=2)
    columns = [
        candidate.mean(axis=1),
        candidate.std(axis=1),
        candidate.max(axis=1),
        neighbour_means.sum(axis=1),
        neighbour_means.max(axis=1),
        modes.reshape(-1, 1),
    ]
    return np.concatenate(columns, axis=1).astype(np.float32)
