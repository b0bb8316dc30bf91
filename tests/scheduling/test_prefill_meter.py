"""Prefill metering: prompts go to an engine only as fast as its tightest TPOT target allows."""

import dataclasses

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
    tpot_guard,
)


def _meter(latency: latency_model.LatencyModel) -> prefill_meter.PrefillMeter:
    return prefill_meter.PrefillMeter(latency=latency, headroom=0.99)


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


def test_the_share_is_what_the_decode_step_leaves_of_the_allowed_step_less_the_margins(
    latency: latency_model.LatencyModel,
) -> None:
    engine = _busy_engine(0.03)
    step_s = tpot_guard.predicted_step_s(
        virtual_batch=4, context=512, slowdown=1.0, latency=latency
    )
    allowed_s = 0.99 * 0.03

    share = _meter(latency).prefill_share(engine)

    # SCORPIO's 1.3 stays in the TPOT guard: here only the meter's own margins
    expected = (1 - prefill_meter.STEP_MARGIN * step_s / allowed_s) / prefill_meter.PREFILL_MARGIN
    assert share == pytest.approx(max(prefill_meter.MIN_PREFILL_SHARE, expected))


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


def test_a_prompt_is_priced_as_its_mixed_step_less_the_decode_step_it_replaces(
    latency: latency_model.LatencyModel,
) -> None:
    slower_mixed = dataclasses.replace(latency, mixed_factor=1.25)
    engine = _busy_engine()
    context = engine.mean_context_tokens()
    # every decoding request rides on the chunk's step; the step replaced is one of the virtual
    # batch (all four requests share one target, so the virtual batch is all four)
    expected_s = slower_mixed.mixed_step_gpu_s(600, 4, context) - slower_mixed.decode.predict_s(
        4, context
    )

    priced_s = _meter(slower_mixed).prompt_extra_s(engine, prompt_tokens=600)

    assert priced_s == pytest.approx(expected_s, rel=1e-12)
    assert priced_s > _meter(latency).prompt_extra_s(engine, prompt_tokens=600)


def test_a_prompt_longer_than_a_chunk_pays_for_every_chunk_step(
    latency: latency_model.LatencyModel,
) -> None:
    meter = _meter(dataclasses.replace(latency, max_batched_tokens=1000))
    engine = _busy_engine()

    one_chunk_s = meter.prompt_extra_s(engine, prompt_tokens=1000)
    three_chunks_s = meter.prompt_extra_s(engine, prompt_tokens=3000)

    assert three_chunks_s >= 3 * one_chunk_s


def test_the_slowdown_stretches_what_a_prompt_costs(latency: latency_model.LatencyModel) -> None:
    meter = _meter(latency)
    engine = _busy_engine()
    slowed = dataclasses.replace(engine, slowdown=2.0)

    assert meter.prompt_extra_s(slowed, prompt_tokens=2000) == pytest.approx(
        2 * meter.prompt_extra_s(engine, prompt_tokens=2000)
    )


def _opens_at(meter: prefill_meter.PrefillMeter, engine: engine_state.EngineState) -> float:
    """The first time (to a microsecond) at which `meter` lets a prompt into `engine` again."""
    closed, opened = 0.0, 100.0
    while opened - closed > 1e-6:
        middle = (closed + opened) / 2
        if meter.is_open(engine, now_s=middle):
            opened = middle
        else:
            closed = middle
    return opened


def test_prompts_sent_for_the_same_step_pay_for_that_step_once(
    latency: latency_model.LatencyModel,
) -> None:
    slower_mixed = dataclasses.replace(latency, mixed_factor=1.25)
    engine = _busy_engine()
    alone_s = _meter(slower_mixed).prompt_extra_s(engine, prompt_tokens=3000)
    sharing_s = _meter(slower_mixed).prompt_extra_s(engine, prompt_tokens=3000, shares_step=True)
    assert sharing_s < alone_s

    together = _meter(slower_mixed)
    together.charge(engine, prompt_tokens=3000, now_s=0.0)
    together.charge(engine, prompt_tokens=3000, now_s=0.0)
    apart = _meter(slower_mixed)
    apart.charge(engine, prompt_tokens=3000, now_s=0.0)
    # one decode step later: the first prompt's step has started, the second needs its own
    apart.charge(engine, prompt_tokens=3000, now_s=slower_mixed.decode_step_time_s(4, 512) * 1.01)

    assert _opens_at(together, engine) < _opens_at(apart, engine)
