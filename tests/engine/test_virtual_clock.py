"""The core on a clock it is handed: what a discrete-event simulator relies on."""

from __future__ import annotations

import pytest
from engine_helpers import build_engine, finished, run_to_idle, spec

from sloserve.engine import events


def test_a_request_arriving_during_a_step_joins_the_next_one() -> None:
    engine = build_engine()
    engine.add_request(spec("first", prompt=64, output=5), at=0.0)
    step = engine.step_in_flight()
    assert step is not None
    engine.add_request(spec("second", prompt=64, output=5), at=step.end / 2)
    assert engine.step_in_flight() == step
    engine.advance(step.end)
    following = engine.step_in_flight()
    assert following is not None
    assert following.start == step.end
    assert following.prefill_requests == ("second",)


def test_events_come_in_time_order_with_first_token_then_tokens_then_finish() -> None:
    engine = build_engine()
    engine.add_request(spec("r", prompt=32, output=4), at=0.5)
    produced = run_to_idle(engine)
    assert [type(e) for e in produced] == [
        events.FirstToken,
        events.Token,
        events.Token,
        events.Token,
        events.Finished,
    ]
    times = [e.time for e in produced]
    assert times == sorted(times)
    assert produced[-1].time == produced[-2].time
    assert [e.index for e in produced if isinstance(e, events.Token)] == [1, 2, 3]


def test_finished_stats_time_the_request_on_the_engine_clock() -> None:
    engine = build_engine()
    engine.add_request(spec("r", prompt=32, output=11), at=2.0)
    stats = finished(run_to_idle(engine))["r"].stats
    assert stats.arrival == 2.0
    assert stats.queue_time == 0.0
    assert stats.ttft > 0
    assert stats.tpot == pytest.approx((stats.e2e - stats.ttft) / 10)


def test_advance_returns_only_what_happened_up_to_then() -> None:
    engine = build_engine()
    engine.add_request(spec("r", prompt=32, output=3), at=0.0)
    step = engine.step_in_flight()
    assert step is not None
    assert engine.advance(step.end / 2) == []
    produced = engine.advance(step.end)
    assert [type(e) for e in produced] == [events.FirstToken]


def test_with_a_horizon_the_engine_skips_its_silent_steps_on_its_own() -> None:
    engine = build_engine(token_events=False)
    engine.add_request(spec("r", prompt=32, output=50), at=0.0)
    first = engine.next_event_time(horizon=10.0)
    assert first is not None
    assert [type(e) for e in engine.advance(first)] == [events.FirstToken]
    # 49 decode steps later the request finishes: one call finds it
    done = engine.next_event_time(horizon=10.0)
    assert done is not None
    produced = engine.advance(done)
    assert [type(e) for e in produced] == [events.Finished]
    assert engine.next_event_time(horizon=20.0) is None


def test_a_horizon_before_the_next_event_stops_the_engine_there() -> None:
    engine = build_engine(token_events=False)
    engine.add_request(spec("r", prompt=32, output=50), at=0.0)
    engine.advance(engine.next_event_time() or 0.0)
    due = engine.next_event_time(horizon=0.1)
    assert due is not None
    assert due > 0.1
    step = engine.step_in_flight()
    assert step is not None
    assert step.start <= 0.1 < step.end
    # a request added at the horizon joins the step after the one in flight
    engine.add_request(spec("late", prompt=32, output=2), at=0.1)
    engine.advance(step.end)
    following = engine.step_in_flight()
    assert following is not None
    assert following.prefill_requests == ("late",)


def test_without_token_events_only_first_tokens_and_finishes_are_reported() -> None:
    engine = build_engine(token_events=False)
    engine.add_request(spec("r", prompt=32, output=20), at=0.0)
    assert [type(e) for e in run_to_idle(engine)] == [events.FirstToken, events.Finished]


def test_time_never_runs_backwards() -> None:
    engine = build_engine()
    engine.advance(5.0)
    with pytest.raises(ValueError, match="before the engine's clock"):
        engine.add_request(spec("r", prompt=32, output=2), at=4.0)


def test_a_reused_request_id_is_refused() -> None:
    engine = build_engine()
    engine.add_request(spec("r", prompt=32, output=2), at=0.0)
    with pytest.raises(ValueError, match="already in the engine"):
        engine.add_request(spec("r", prompt=32, output=2), at=0.0)


def test_a_request_longer_than_max_model_len_is_refused() -> None:
    engine = build_engine(max_model_len=256)
    with pytest.raises(ValueError, match="max_model_len"):
        engine.add_request(spec("r", prompt=200, output=100), at=0.0)


def test_a_slowdown_change_applies_from_the_next_step() -> None:
    engine = build_engine()
    engine.add_request(spec("r", prompt=32, output=10), at=0.0)
    prefill = engine.step_in_flight()
    assert prefill is not None
    engine.advance(prefill.end)
    before = engine.step_in_flight()
    assert before is not None
    engine.timer.slowdown = 3.0
    assert engine.step_in_flight() == before
    engine.advance(before.end)
    after = engine.step_in_flight()
    assert after is not None
    gpu = engine.timer.gpu_ms(prefill_tokens=0, decode_batch=1, decode_context=33)
    cpu = engine.timer.cpu_overhead_ms
    assert (after.end - after.start) * 1000 == pytest.approx(gpu * 3.0 + cpu)


def test_time_scale_zero_answers_at_the_arrival_instant() -> None:
    engine = build_engine(time_scale=0.0)
    engine.add_request(spec("r", prompt=500, output=30), at=7.0)
    produced = run_to_idle(engine)
    assert {e.time for e in produced} == {7.0}
    assert finished(produced)["r"].stats.output_tokens == 30


def test_the_snapshot_reports_load_and_queued_prefill() -> None:
    engine = build_engine(max_num_seqs=1)
    engine.add_request(spec("a", prompt=30, output=5), at=0.0)
    engine.add_request(spec("b", prompt=70, output=5), at=0.0)
    engine.step_in_flight()
    load = engine.snapshot()
    assert (load.num_running, load.num_waiting) == (1, 1)
    assert load.queued_prefill_tokens == 70 + 30  # a's chunk is in flight, not yet computed
    views = {v.request_id: v.state for v in engine.request_views()}
    assert views == {"a": "prefill", "b": "waiting"}


def test_load_figures_and_output_counts_agree_with_the_snapshot_and_views() -> None:
    engine = build_engine(max_num_seqs=2, max_num_batched_tokens=64)
    for index, prompt in enumerate((100, 30, 50)):
        engine.add_request(spec(f"r{index}", prompt=prompt, output=20), at=0.0)
    for _ in range(12):
        due = engine.next_event_time()
        assert due is not None
        engine.advance(due)
        load = engine.snapshot()
        step_end = load.step_end
        assert engine.load_figures() == (
            load.num_waiting,
            load.queued_prefill_tokens,
            load.kv_blocks_total - load.kv_blocks_used,
            step_end,
        )
        assert engine.output_counts() == [
            (view.request_id, view.output_tokens) for view in engine.request_views()
        ]
