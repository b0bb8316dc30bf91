"""One engine's capacity of a class mix, from the latency model."""

from __future__ import annotations

import dataclasses

import pytest

from sloserve.autoscaling import capacity
from sloserve.scheduling import latency_model

LATENCY = latency_model.LatencyModel(
    # 7 ms up to 208 tokens, then 26 µs a token (an 8B model's prefill on an H100)
    prefill=latency_model.PrefillModel(
        threshold_tokens=208, floor_s=0.007, slope_s_per_token=2.6e-5
    ),
    decode=latency_model.DecodeStepModel(
        batch_context_s=3.7e-8, batch_s=1.3e-5, context_s=2.5e-7, constant_s=0.0064
    ),
    cpu_overhead_s=0.0005,
)
LIMITS = capacity.EngineLimits(max_num_seqs=1024, kv_cache_tokens=460_000)


def _class(name: str = "standard", **changes: float) -> capacity.ClassDemand:
    fields: dict[str, float] = {
        "rate_rps": 1.0,
        "mean_prompt_tokens": 1155,
        "mean_output_tokens": 211,
        "ttft_s": 3.0,
        "tpot_s": 0.05,
        "target_attainment": 0.95,
    }
    fields.update(changes)
    return capacity.ClassDemand(name=name, **fields)  # type: ignore[arg-type]


def _capacity(*demand: capacity.ClassDemand, limits: capacity.EngineLimits = LIMITS) -> float:
    return capacity.engine_capacity_rps(demand, latency=LATENCY, limits=limits)


def test_a_tighter_tpot_lowers_the_capacity() -> None:
    assert _capacity(_class(tpot_s=0.03)) < _capacity(_class(tpot_s=0.05))


def test_a_tighter_ttft_or_a_higher_target_lowers_the_capacity() -> None:
    loose = _capacity(_class(ttft_s=3.0, target_attainment=0.9))
    assert _capacity(_class(ttft_s=0.15, target_attainment=0.9)) < loose
    assert _capacity(_class(ttft_s=0.15, target_attainment=0.99)) < _capacity(
        _class(ttft_s=0.15, target_attainment=0.9)
    )


def test_longer_requests_lower_the_capacity() -> None:
    short = _capacity(_class(mean_prompt_tokens=200, mean_output_tokens=100))
    assert _capacity(_class(mean_prompt_tokens=2000, mean_output_tokens=400)) < short


def test_the_mix_is_bounded_by_its_tightest_class() -> None:
    tight = _class("interactive", tpot_s=0.03)
    loose = _class("batch", tpot_s=0.05)
    assert _capacity(tight, loose) == pytest.approx(_capacity(tight), rel=1e-6)


def test_a_small_kv_cache_or_seat_limit_bounds_the_batch() -> None:
    small = capacity.EngineLimits(max_num_seqs=8, kv_cache_tokens=460_000)
    assert _capacity(_class(), limits=small) < _capacity(_class()) / 2


def test_the_capacity_meets_the_objectives_it_was_computed_for() -> None:
    demand = _class(tpot_s=0.04)
    rate = _capacity(demand)
    prefill_load = rate * LATENCY.prefill_time_s(1155)
    assert 0 < prefill_load < 1
    # just above the capacity, some constraint fails: the search found the edge
    assert _capacity(dataclasses.replace(demand, rate_rps=rate * 1.01)) == pytest.approx(rate)


def test_objectives_below_one_prefill_give_no_capacity() -> None:
    assert _capacity(_class(ttft_s=0.001)) == 0.0


def test_bad_demand_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="target_attainment"):
        _class(target_attainment=1.5)
    with pytest.raises(ValueError, match="empty"):
        capacity.engine_capacity_rps((), latency=LATENCY, limits=LIMITS)
