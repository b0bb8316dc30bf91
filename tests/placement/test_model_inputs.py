from __future__ import annotations

import numpy as np
import pytest

from sloserve.placement import features
from sloserve.placement.dataset import ColocationDataset
from sloserve.placement.examples import build_examples
from sloserve.placement.series import MetricSeries, resample


def _flat(value: float, load: float) -> features.PreparedSeries:
    return features.PreparedSeries(values=np.full((4, 2), value, dtype=np.float32), load=load)


def test_empty_neighbour_slots_are_filled_with_idle() -> None:
    stacked = features.stack_inputs(_flat(1, 50), [_flat(2, 30)], _flat(0, 0))
    assert stacked.shape == (features.SLOTS, 4, 2)
    assert stacked[:, 0, 0].tolist() == [1, 2, 0]


def test_only_the_heaviest_neighbours_are_kept() -> None:
    neighbours = [_flat(2, 10), _flat(3, 90), _flat(4, 50)]
    stacked = features.stack_inputs(_flat(1, 50), neighbours, _flat(0, 0))
    assert stacked[:, 0, 0].tolist() == [1, 3, 4]


def test_resampling_keeps_the_window_ends_and_interpolates_between() -> None:
    values = np.array([[0.0], [10.0]], dtype=np.float32)
    resampled = resample(values, 5)
    assert resampled[:, 0].tolist() == pytest.approx([0, 2.5, 5, 7.5, 10])


def test_a_series_without_a_model_metric_names_it() -> None:
    series = MetricSeries(("sm_util_pct",), np.ones((3, 1), dtype=np.float32))
    with pytest.raises(KeyError, match="power_w"):
        features.PreparedSeries.of(series, metrics=("sm_util_pct", "power_w"), steps=4)


def test_examples_put_the_candidate_first_and_label_with_p(synthetic: ColocationDataset) -> None:
    rows = [row for row in synthetic.rows if row.co_runners == ("idle",)][:3]
    examples = build_examples(synthetic, rows, steps=8)
    assert examples.inputs.shape == (3, features.SLOTS, 8, len(synthetic.metrics))
    idle = features.PreparedSeries.of(
        synthetic.solo[(rows[0].mode, "idle")], metrics=synthetic.metrics, steps=8
    )
    np.testing.assert_allclose(examples.inputs[0, 1], idle.values)
    assert examples.targets.tolist() == pytest.approx([row.p for row in rows])


def test_summary_features_describe_candidate_and_neighbours(synthetic: ColocationDataset) -> None:
    examples = build_examples(synthetic, synthetic.rows[:5], steps=8)
    table = features.summary_features(examples.inputs, examples.modes)
    metrics = len(synthetic.metrics)
    assert table.shape == (5, 5 * metrics + 1)
    np.testing.assert_allclose(table[:, -1], examples.modes)
