"""Counter increases from raw observations handle restarts and series created mid-window."""

from __future__ import annotations

from sloserve.report import counters


def test_increase_is_last_minus_first_for_a_steady_counter() -> None:
    assert counters.increase([10.0, 15.0, 22.0]) == 12.0


def test_a_drop_means_a_restart_and_the_new_value_counts_whole() -> None:
    assert counters.increase([10.0, 15.0, 3.0, 5.0]) == 5.0 + 3.0 + 2.0


def test_series_created_after_the_first_observation_counts_from_zero() -> None:
    assert counters.increase([None, 4.0, 6.0]) == 6.0


def test_series_present_at_the_start_is_only_a_baseline() -> None:
    assert counters.increase([7.0]) == 0.0


def test_series_that_vanishes_and_returns_was_recreated() -> None:
    assert counters.increase([5.0, None, 2.0]) == 2.0


def test_step_increases_count_a_late_series_from_zero() -> None:
    steps = counters.step_increases([(20.0, 3.0), (30.0, 5.0)], created_after=10.0)
    assert steps == [(20.0, 3.0), (30.0, 2.0)]


def test_step_increases_use_the_first_step_as_baseline_and_detect_resets() -> None:
    steps = counters.step_increases([(10.0, 8.0), (20.0, 9.0), (30.0, 1.0)], created_after=10.0)
    assert steps == [(20.0, 1.0), (30.0, 1.0)]
