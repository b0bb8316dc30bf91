"""The autoscaling decision on fake time: demand, bounds, stabilization, delay, surge, drain,
scale to zero and from zero, cold-start look-ahead and the feedback correction."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sloserve.autoscaling import capacity, recommender
from sloserve.autoscaling.recommender import Reason

# Every engine serves 10 req/s of any mix: the decisions, not the capacity model, are under test.
ENGINE_RPS = 10.0


def _fixed_capacity(_: Sequence[capacity.ClassDemand]) -> float:
    return ENGINE_RPS


def _recommender(**settings: float) -> recommender.Recommender:
    values: dict[str, float] = {
        "min_replicas": 1,
        "max_replicas": 8,
        "scale_down_delay_s": 300.0,
        "start_time_s": 0.0,
        "max_surge": 8,
    }
    values.update(settings)
    return recommender.Recommender(
        recommender.ScalingSettings(**values),  # type: ignore[arg-type]
        capacity_of=_fixed_capacity,
    )


def _demand(rate: float, *, target: float = 0.95) -> tuple[capacity.ClassDemand, ...]:
    return (
        capacity.ClassDemand(
            name="interactive",
            rate_rps=rate,
            mean_prompt_tokens=1000,
            mean_output_tokens=200,
            ttft_s=0.5,
            tpot_s=0.05,
            target_attainment=target,
        ),
    )


def _observe(
    now_s: float,
    rate: float | None,
    *,
    current: int,
    ready: int | None = None,
    attainment: float | None = None,
    queue_s: float | None = 0.0,
    draining: int = 0,
    held: int = 0,
    window_s: float = 0.0,
) -> recommender.Observation:
    return recommender.Observation(
        now_s=now_s,
        demand=None if rate is None else _demand(rate),
        attainment={"interactive": attainment},
        queue_time_s=queue_s,
        current_replicas=current,
        ready_replicas=current if ready is None else ready,
        draining_replicas=draining,
        held_requests=held,
        window_s=window_s,
    )


def test_demand_above_capacity_scales_up_to_demand_over_capacity() -> None:
    decision = _recommender().decide(_observe(0, 35.0, current=1))
    assert (decision.desired_replicas, decision.reason) == (4, Reason.DEMAND_ABOVE_CAPACITY)
    assert decision.capacity_rps == ENGINE_RPS
    assert "35.00 req/s" in decision.message


def test_scale_up_is_limited_by_max_surge_and_max_replicas() -> None:
    surge = _recommender(max_surge=2).decide(_observe(0, 70.0, current=1))
    assert (surge.desired_replicas, surge.reason) == (3, Reason.SURGE_LIMITED)
    capped = _recommender(max_replicas=5).decide(_observe(0, 70.0, current=1))
    assert (capped.desired_replicas, capped.reason) == (5, Reason.AT_MAX_REPLICAS)
    assert capped.recommended_replicas == 7


def test_scale_up_stabilization_takes_the_lowest_recommendation_of_its_window() -> None:
    scaler = _recommender(scale_up_stabilization_s=30.0)
    assert scaler.decide(_observe(0, 5.0, current=1)).desired_replicas == 1
    spike = scaler.decide(_observe(10, 35.0, current=1))
    assert (spike.desired_replicas, spike.reason) == (1, Reason.SCALE_UP_STABILIZING)
    scaler.decide(_observe(20, 35.0, current=1))
    held = scaler.decide(_observe(41, 35.0, current=1))
    assert (held.desired_replicas, held.reason) == (4, Reason.DEMAND_ABOVE_CAPACITY)


def test_scale_down_waits_until_demand_stayed_low_for_the_whole_delay() -> None:
    scaler = _recommender(scale_down_delay_s=300.0)
    assert scaler.decide(_observe(0, 35.0, current=4)).desired_replicas == 4
    for now_s in (60, 120, 240, 300):
        decision = scaler.decide(_observe(now_s, 5.0, current=4))
        assert (decision.desired_replicas, decision.reason) == (4, Reason.SCALE_DOWN_DELAYED)
    later = scaler.decide(_observe(361, 5.0, current=4))
    assert (later.desired_replicas, later.reason) == (1, Reason.DEMAND_BELOW_CAPACITY)


def test_no_scale_down_in_the_first_delay_after_start() -> None:
    scaler = _recommender(scale_down_delay_s=120.0)
    assert scaler.decide(_observe(0, 1.0, current=4)).reason == Reason.SCALE_DOWN_DELAYED
    assert scaler.decide(_observe(121, 1.0, current=4)).desired_replicas == 1


def test_no_scale_down_while_earlier_engines_still_drain() -> None:
    scaler = _recommender(scale_down_delay_s=10.0)
    scaler.decide(_observe(0, 5.0, current=4))
    draining = scaler.decide(_observe(20, 5.0, current=3, draining=1))
    assert (draining.desired_replicas, draining.reason) == (3, Reason.DRAIN_IN_PROGRESS)
    assert scaler.decide(_observe(30, 5.0, current=3)).desired_replicas == 1


def test_min_replicas_bounds_the_scale_down() -> None:
    scaler = _recommender(min_replicas=2, scale_down_delay_s=10.0)
    scaler.decide(_observe(0, 0.0, current=4))
    decision = scaler.decide(_observe(20, 0.0, current=4))
    assert (decision.desired_replicas, decision.reason) == (2, Reason.AT_MIN_REPLICAS)


def test_no_demand_at_min_replicas_is_reported_as_min_replicas_not_a_delay() -> None:
    scaler = _recommender(min_replicas=1, scale_down_delay_s=60.0)
    scaler.decide(_observe(0, 0.0, current=1))
    decision = scaler.decide(_observe(30, 0.0, current=1))
    assert (decision.desired_replicas, decision.reason) == (1, Reason.AT_MIN_REPLICAS)


def test_no_demand_for_the_whole_delay_scales_to_zero_when_allowed() -> None:
    scaler = _recommender(min_replicas=0, scale_down_delay_s=60.0)
    scaler.decide(_observe(0, 0.0, current=1))
    assert scaler.decide(_observe(30, 0.0, current=1)).desired_replicas == 1
    zero = scaler.decide(_observe(61, 0.0, current=1))
    assert (zero.desired_replicas, zero.reason) == (0, Reason.SCALED_TO_ZERO)


def test_a_held_request_at_zero_replicas_activates_at_once() -> None:
    scaler = _recommender(min_replicas=0, scale_up_stabilization_s=120.0, max_surge=1)
    woken = scaler.decide(_observe(0, 0.0, current=0, held=1))
    assert (woken.desired_replicas, woken.reason) == (1, Reason.ACTIVATED_FROM_ZERO)
    burst = _recommender(min_replicas=0, max_surge=2).decide(_observe(0, 50.0, current=0))
    assert (burst.desired_replicas, burst.reason) == (2, Reason.ACTIVATED_FROM_ZERO)


def test_a_rising_demand_is_sized_for_when_the_new_engine_is_ready() -> None:
    scaler = _recommender(start_time_s=60.0)
    scaler.decide(_observe(0, 10.0, current=1))
    # +0.5 req/s each second: in 60 s, demand is 30 + 30 = 60 req/s
    decision = scaler.decide(_observe(40, 30.0, current=1))
    assert decision.desired_replicas == 6
    no_lookahead = _recommender(start_time_s=0.0)
    no_lookahead.decide(_observe(0, 10.0, current=1))
    assert no_lookahead.decide(_observe(40, 30.0, current=1)).desired_replicas == 3


def test_missed_attainment_with_enough_engines_shrinks_the_capacity() -> None:
    scaler = _recommender()
    decision = scaler.decide(_observe(0, 28.0, current=3, attainment=0.90))
    # one window moves the correction by at most max_step (1.1)
    assert decision.correction == pytest.approx(1 / 1.1)
    assert decision.capacity_rps is not None
    assert decision.capacity_rps < ENGINE_RPS
    assert decision.desired_replicas == 4


def test_missed_attainment_while_engines_still_start_is_not_blamed_on_the_model() -> None:
    scaler = _recommender()
    decision = scaler.decide(_observe(0, 25.0, current=3, ready=1, attainment=0.5))
    assert decision.correction == 1.0


def test_misses_of_a_window_that_began_before_the_last_engine_came_are_not_blamed() -> None:
    scaler = _recommender()
    scaler.decide(_observe(0, 25.0, current=3, ready=2, window_s=60))
    # the third engine is ready from 30 s on: the window of 30 s holds a minute of two engines
    straddling = scaler.decide(_observe(30, 25.0, current=3, attainment=0.9, window_s=60))
    assert straddling.correction == 1.0
    measured_on_three = scaler.decide(_observe(90, 25.0, current=3, attainment=0.9, window_s=60))
    assert measured_on_three.correction == pytest.approx(1 / 1.1)


def test_long_gateway_queues_shrink_the_capacity_too() -> None:
    decision = _recommender().decide(_observe(0, 25.0, current=3, attainment=1.0, queue_s=0.4))
    assert decision.correction < 1.0


def test_the_correction_recovers_when_objectives_hold_again() -> None:
    scaler = _recommender()
    low = scaler.decide(_observe(0, 25.0, current=3, attainment=0.9)).correction
    recovered = low
    for step in range(1, 60):
        recovered = scaler.decide(_observe(step * 10, 25.0, current=4, attainment=1.0)).correction
    assert low < recovered == pytest.approx(1.0)


def test_the_correction_stays_within_its_bounds() -> None:
    scaler = _recommender(min_correction=0.5)
    for step in range(50):
        scaler.decide(_observe(step, 5.0, current=8, attainment=0.0))
    assert scaler.correction == pytest.approx(0.5)


def test_missing_figures_keep_the_replicas() -> None:
    decision = _recommender().decide(_observe(0, None, current=3))
    assert (decision.desired_replicas, decision.reason) == (3, Reason.NO_METRICS)


def test_unattainable_objectives_keep_the_replicas_and_say_so() -> None:
    scaler = recommender.Recommender(
        recommender.ScalingSettings(min_replicas=1, max_replicas=4), capacity_of=lambda _: 0.0
    )
    decision = scaler.decide(_observe(0, 5.0, current=2))
    assert (decision.desired_replicas, decision.reason) == (2, Reason.OBJECTIVES_UNATTAINABLE)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="min_replicas"):
        recommender.ScalingSettings(min_replicas=3, max_replicas=2)
    with pytest.raises(ValueError, match="max_surge"):
        recommender.ScalingSettings(min_replicas=0, max_replicas=2, max_surge=0)
