"""Prefill metering: prompts go to an engine only as fast as its tightest TPOT target allows."""

import pytest

from conftest import MakeRequest, SLOClasses
from sloserve.scheduling import (
    clock,
    engine_state,
    latency_model,
    outcomes,
    policy,
    prefill_meter,
    scheduler,
)


def _meter(latency: latency_model.LatencyModel) -> prefill_meter.PrefillMeter:
    return prefill_meter.PrefillMeter(latency=latency, inefficiency=1.3, headroom=0.99)


def _busy_engine(tpot_s: float = 0.05) -> engine_state.EngineState:
    running = tuple(
        engine_state.RunningRequest(request_id=f"r{i}", tpot_s=tpot_s, context_tokens=512)
        for i in range(4)
    )
    return engine_state.EngineState(engine_id="e0", max_num_seqs=64, running=running)


def test_an_idle_engine_is_always_open(latency: latency_model.LatencyModel) -> None:
    meter = _meter(latency)
    idle = engine_state.EngineState(engine_id="e0", max_num_seqs=64)
    meter.charge(_busy_engine(), prompt_tokens=8000, now_s=0.0)
    assert meter.is_open(idle, now_s=0.0)


def test_a_long_prompt_closes_a_busy_engine_until_it_is_paid_for(
    latency: latency_model.LatencyModel,
) -> None:
    meter = _meter(latency)
    engine = _busy_engine()
    meter.charge(engine, prompt_tokens=4000, now_s=0.0)
    assert not meter.is_open(engine, now_s=0.0)
    assert meter.is_open(engine, now_s=10.0)


def test_a_tighter_target_allows_less_prefill(latency: latency_model.LatencyModel) -> None:
    meter = _meter(latency)
    assert meter.prefill_share(_busy_engine(0.03)) < meter.prefill_share(_busy_engine(0.05))


def test_prompts_that_add_nothing_to_a_step_keep_the_engine_open(
    latency: latency_model.LatencyModel,
) -> None:
    meter = _meter(latency)
    engine = _busy_engine()
    for _ in range(50):
        meter.charge(engine, prompt_tokens=16, now_s=0.0)
    assert meter.is_open(engine, now_s=0.0)


def test_the_scorpio_scheduler_holds_prompts_while_the_meter_is_closed(
    latency: latency_model.LatencyModel, make_request: MakeRequest, classes: SLOClasses
) -> None:
    manual = clock.ManualClock()
    sched = scheduler.Scheduler(
        model="llama-8b",
        policy_config=policy.preset("scorpio"),
        clock_source=manual,
        latency=latency,
    )
    engine = _busy_engine()
    for index in range(3):
        request = make_request(f"q{index}", slo_class=classes.batch, prompt_tokens=4000)
        assert isinstance(sched.submit(request, [engine]), outcomes.Admitted)
    first = sched.dispatch([engine])
    assert [type(decision) for decision in first] == [outcomes.Dispatch]
    assert len(sched.queued) == 2
    manual.advance(10.0)
    sent = first[0]
    assert isinstance(sent, outcomes.Dispatch)
    later = sched.dispatch([engine.with_dispatched(sent.request)])
    assert any(isinstance(decision, outcomes.Dispatch) for decision in later)


def test_metering_needs_the_tpot_guard() -> None:
    with pytest.raises(ValueError, match="use_tpot_guard"):
        policy.PolicyConfig(
            name="bad",
            order=policy.request_queue.QueueOrder.DEADLINE,
            routing=policy.Routing.LEAST_LOADED,
            meter_prefill=True,
        )
