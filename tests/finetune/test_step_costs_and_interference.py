"""The packaged H200 tables: step costs read off the measured grid, and the interference curves
derived from the measured co-location pass (the packaged copies equal what the data gives)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from sloserve.finetune import interference, step_costs

DATA = Path(__file__).resolve().parents[2] / "data" / "finetune"
TABLES = Path(step_costs.__file__).parent / "tables"


def test_the_packaged_step_table_is_the_measured_one() -> None:
    packaged = json.loads((TABLES / step_costs.H200_TABLE).read_text())
    assert packaged == json.loads((DATA / "finetune_steps_h200.json").read_text())


def test_the_packaged_interference_table_is_derived_from_the_measured_pass() -> None:
    with gzip.open(DATA / "finetune_coloc_timeslice.json.gz") as handle:
        derived = interference.derive(json.load(handle))
    packaged = json.loads((TABLES / interference.H200_INTERFERENCE).read_text())
    assert packaged == json.loads(json.dumps(derived))


def test_a_measured_setting_costs_its_median() -> None:
    cost = step_costs.load_table().step(micro_batch=8, seq_len=2048)
    assert cost.step_s == pytest.approx(0.299058)
    assert cost.tokens == 16384


def test_a_setting_between_grid_points_lies_between_them() -> None:
    table = step_costs.load_table()
    low = table.step(micro_batch=8, seq_len=1024).step_s
    high = table.step(micro_batch=8, seq_len=2048).step_s
    assert low < table.step(micro_batch=8, seq_len=1448).step_s < high


def test_beyond_the_grid_time_grows_with_tokens() -> None:
    table = step_costs.load_table()
    assert table.step(micro_batch=16, seq_len=2048).step_s == pytest.approx(2 * 0.299058)


def test_all_linear_targets_cost_what_was_measured() -> None:
    targets = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    cost = step_costs.load_table().step(micro_batch=4, seq_len=512, targets=targets)
    assert cost.step_s == pytest.approx(0.121058)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        step_costs.load_table().step(micro_batch=0, seq_len=512)


def test_inference_slows_more_the_larger_the_jobs_share() -> None:
    table = interference.load_interference()
    slowdowns = [table.engine_slowdown(share) for share in (0.0, 0.1, 0.25, 0.5, 1.0)]
    assert slowdowns[0] == 1.0
    assert slowdowns == sorted(slowdowns)
    assert table.slowdown("decode_b32_c1024", 1.0) == pytest.approx(2.2444)
    assert table.worst_slowdown(0.5) >= table.engine_slowdown(0.5)


def test_the_largest_share_within_a_slowdown_keeps_it() -> None:
    table = interference.load_interference()
    share = table.largest_share_within(1.2)
    assert 0.25 < share < 0.5
    assert table.worst_slowdown(share) <= 1.2 < table.worst_slowdown(share + 0.01)
