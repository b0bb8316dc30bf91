from __future__ import annotations

import gzip
import json
import pathlib

import numpy as np
import pytest

from placement import synthetic_dataset
from sloserve.placement.dataset import ColocationDataset, load_dataset, parse_dataset


def test_rows_and_solo_series_are_read(synthetic: ColocationDataset) -> None:
    assert synthetic.metrics == synthetic_dataset.METRICS
    assert synthetic.heldout_kinds == synthetic_dataset.HELDOUT
    assert set(synthetic.modes) == {"timeslice", "mps"}
    assert ("mps", "idle") in synthetic.solo
    row = synthetic.rows[0]
    assert 0 < row.p <= 1.1
    assert list(row.co_runners) == sorted(row.co_runners)


def test_a_row_without_a_label_is_counted_not_used(synthetic: ColocationDataset) -> None:
    assert synthetic.unlabelled == 1
    assert all(row.p > 0 for row in synthetic.rows)


def test_a_missing_reading_takes_the_mean_of_the_others(synthetic: ColocationDataset) -> None:
    series = synthetic.solo[("timeslice", "decode_small")]
    column = synthetic.metrics.index("gpm_dram_bw_util_pct")
    others = np.delete(series.values[:, column], 3)
    assert series.values[3, column] == pytest.approx(others.mean(), rel=1e-5)


def test_split_keeps_every_row_involving_a_heldout_kind_out_of_training(
    synthetic: ColocationDataset,
) -> None:
    train, evaluate = synthetic.split(["decode_medium"])
    assert train
    assert evaluate
    assert all("decode_medium" not in (row.kind, *row.co_runners) for row in train)
    assert all("decode_medium" in (row.kind, *row.co_runners) for row in evaluate)
    assert len(train) + len(evaluate) == len(synthetic.rows)


def test_an_unknown_heldout_kind_is_refused(synthetic: ColocationDataset) -> None:
    with pytest.raises(ValueError, match="not in the dataset"):
        synthetic.split(["no_such_kind"])


def test_another_schema_is_refused_with_the_way_to_build_one() -> None:
    with pytest.raises(ValueError, match="merge_colocation"):
        parse_dataset({"schema": "something/v9", "passes": {}})


def test_a_row_whose_corunner_has_no_solo_series_is_refused(tmp_path: pathlib.Path) -> None:
    document = synthetic_dataset.document()
    del document["passes"]["mps"]["solo"]["finetune"]
    path = tmp_path / "broken.json.gz"
    with gzip.open(path, "wt") as sink:
        json.dump(document, sink)
    with pytest.raises(ValueError, match="'finetune' under 'mps'"):
        load_dataset(path)
