"""The tree predictor's input: one row of summary features per (candidate, neighbours, mode, GPU).

Columns, in order (`feature_names` spells them out):
- the dual-branch model's summary features (`features.summary_features`): the candidate's mean,
  deviation and maximum of each metric, the summed and largest mean of each metric over the two
  heaviest neighbours, and the sharing mode;
- the summed mean load over the candidate and those two neighbours, and how many of the two are
  busy (mean load above BUSY_LOAD);
- the GPU product's code (its index in the model's GPU list), so one model covers several GPUs;
- every neighbour's mean readings summed (not only the two heaviest: a GPU may hold three or more
  workloads, and the two-slot input would not see the third), the number of neighbours, and the
  sum-of-utilizations estimate of log P over all of them;
- the MPS thread limit as a fraction of the SMs (1 without a limit and under time-slicing).

Pure numpy: the same function builds training rows and serving rows, so what the model learns
from is exactly what it reads when it scores a node.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from sloserve.placement import features
from sloserve.placement.features import PreparedSeries
from sloserve.placement.series import FloatArray

__all__ = ["BUSY_LOAD", "ModelRow", "feature_names", "row_features", "rows_features"]

#: A neighbour whose mean load metric is below this (percent) does no work worth counting.
BUSY_LOAD = 2.0


@dataclasses.dataclass(frozen=True, eq=False)
class ModelRow:
    """One prediction to make: the candidate's P beside `neighbours` (all of them; idle ones
    excluded), on a GPU shared under `mode` (0 time-slicing, 1 MPS) of product code `gpu`, MPS
    clients limited to `thread_fraction` of the SMs. `idle` fills the empty neighbour slots of
    the two-slot view."""

    candidate: PreparedSeries
    neighbours: tuple[PreparedSeries, ...]
    idle: PreparedSeries
    mode: float
    gpu: float
    thread_fraction: float = 1.0


def feature_names(metrics: Sequence[str]) -> list[str]:
    return [
        *(f"candidate_mean:{m}" for m in metrics),
        *(f"candidate_std:{m}" for m in metrics),
        *(f"candidate_max:{m}" for m in metrics),
        *(f"top2_neighbours_sum:{m}" for m in metrics),
        *(f"top2_neighbours_max:{m}" for m in metrics),
        "mode",
        f"slots_sum:{features.LOAD_METRIC}",
        "top2_neighbours_busy",
        "gpu",
        *(f"all_neighbours_sum:{m}" for m in metrics),
        "neighbours",
        "sum_of_utilizations_log_p",
        "mps_thread_fraction",
    ]


def row_features(row: ModelRow, load_column: int) -> FloatArray:
    """The feature row of one prediction; `load_column` is LOAD_METRIC's column. Built from each
    series' cached statistics (`PreparedSeries.means` ...), the same numbers
    `features.summary_features` computes from the stacked two-slot input."""
    kept = sorted(row.neighbours, key=lambda series: series.load, reverse=True)
    kept = kept[: features.NEIGHBOUR_SLOTS]
    slots = [*kept] + [row.idle] * (features.NEIGHBOUR_SLOTS - len(kept))
    slot_means = np.stack([series.means for series in slots])
    candidate = row.candidate
    slot_loads = np.array(
        [candidate.means[load_column], *(m[load_column] for m in slot_means)], dtype=np.float32
    )
    busy_in_slots = float((slot_loads[1:] > BUSY_LOAD).sum())
    means = [series.means for series in row.neighbours]
    total = np.sum(means, axis=0) if means else np.zeros(candidate.values.shape[1])
    demand = float(candidate.means[load_column] + total[load_column])
    prior = math.log(min(1.0, 100.0 / max(demand, 1e-6)))
    return np.concatenate(
        [
            candidate.means,
            candidate.stds,
            candidate.maxima,
            slot_means.sum(axis=0),
            slot_means.max(axis=0),
            [row.mode, float(slot_loads.sum()), busy_in_slots, row.gpu],
            total,
            [len(row.neighbours), prior, row.thread_fraction],
        ]
    ).astype(np.float32)


def rows_features(rows: Sequence[ModelRow], load_column: int) -> FloatArray:
    """`(len(rows), features)`: `row_features` of each row."""
    return np.stack([row_features(row, load_column) for row in rows])
