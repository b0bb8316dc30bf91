"""The tree predictor's feature rows: built from each series' cached statistics, they say what
the summary features of the stacked two-slot input say, plus every neighbour."""

from __future__ import annotations

import numpy as np
import pytest

from sloserve.placement import features
from sloserve.placement.tree_features import ModelRow, feature_names, row_features


def _series(seed: int, load: float) -> features.PreparedSeries:
    values = np.random.default_rng(seed).uniform(0, 100, size=(16, 3)).astype(np.float32)
    return features.PreparedSeries(values=values, load=load)


def test_a_row_carries_the_summary_features_of_its_two_heaviest_neighbours() -> None:
    candidate, idle = _series(1, 50), _series(2, 0)
    neighbours = (_series(3, 10), _series(4, 90), _series(5, 40))
    row = ModelRow(candidate, neighbours, idle, mode=1.0, gpu=1.0, thread_fraction=0.5)

    values = row_features(row, load_column=0)

    stacked = features.stack_inputs(candidate, neighbours, idle)[np.newaxis]
    summary = features.summary_features(stacked, np.array([1.0], dtype=np.float32))[0]
    np.testing.assert_allclose(values[: len(summary)], summary, rtol=1e-6)
    assert len(values) == len(feature_names(("a", "b", "c")))


def test_every_neighbour_counts_in_the_all_neighbour_sums() -> None:
    candidate, idle = _series(1, 50), _series(2, 0)
    neighbours = (_series(3, 10), _series(4, 90), _series(5, 40))
    row = ModelRow(candidate, neighbours, idle, mode=0.0, gpu=0.0)
    names = feature_names(("a", "b", "c"))

    values = dict(zip(names, row_features(row, load_column=0), strict=True))

    expected = sum(float(series.values[:, 1].mean()) for series in neighbours)
    assert values["all_neighbours_sum:b"] == pytest.approx(expected, rel=1e-6)
    assert values["neighbours"] == 3
    assert values["gpu"] == 0.0
    assert values["mps_thread_fraction"] == 1.0
