"""What the scheduler is told about an engine is the engine core's own state."""

import pytest
from sim_helpers import PROFILE

from sloserve.engine import config, events
from sloserve.scheduling import engine_state, slo
from sloserve.sim import cluster, engines

CLASS = slo.SLOClass(name="standard", ttft_s=3.0, tpot_s=0.03)


def _engine(*, slowdown: float = 1.0, track_contexts: bool = True) -> engines.SimEngine:
    engine_config = cluster.EngineSettings(max_num_batched_tokens=1024).engine_config(
        PROFILE, config.Policy.FCFS
    )
    (engine,) = cluster.build_engines(
        profile=PROFILE,
        engine_config=engine_config,
        slowdowns=[slowdown],
        track_contexts=track_contexts,
        context_refresh_s=0.0,
    )
    return engine


def _request(request_id: str, prompt_tokens: int) -> slo.Request:
    return slo.Request(
        request_id=request_id,
        model="m",
        slo_class=CLASS,
        arrival_s=0.0,
        prompt_tokens=prompt_tokens,
        max_tokens=50,
    )


def test_snapshot_counts_waiting_requests_and_their_prompt_tokens() -> None:
    engine = _engine()
    for index in range(3):
        engine.send(_request(f"r{index}", 800), output_tokens=50, priority=0, now_s=0.0)
    state = engine.snapshot(0.0)
    assert len(state.running) == 3
    assert state.waiting_requests == 3
    assert state.queued_prefill_tokens == 2400
    assert state.prefill_start_delay_s == 0.0
    assert state.max_num_seqs == engine.core.config.max_num_seqs


def test_snapshot_knows_the_step_in_flight_and_the_kv_it_holds() -> None:
    engine = _engine(slowdown=1.5)
    for index in range(3):
        engine.send(_request(f"r{index}", 800), output_tokens=50, priority=0, now_s=0.0)
    step_end = engine.core.next_event_time()
    assert step_end is not None
    engine.core.advance(step_end / 2)
    state = engine.snapshot(step_end / 2)
    load = engine.core.snapshot()
    assert state.prefill_start_delay_s == pytest.approx(step_end / 2)
    assert state.waiting_requests == load.num_waiting
    assert state.queued_prefill_tokens == load.queued_prefill_tokens
    assert state.kv_free_tokens == (load.kv_blocks_total - load.kv_blocks_used) * 16
    assert state.slowdown == 1.5


def test_contexts_grow_with_generated_tokens() -> None:
    engine = _engine()
    engine.send(_request("r0", 100), output_tokens=50, priority=0, now_s=0.0)
    for _ in range(10):
        due = engine.core.next_event_time()
        assert due is not None
        engine.core.advance(due)
    (running,) = engine.snapshot(engine.core.now).running
    assert running.context_tokens > 100


def test_finished_requests_no_longer_load_the_engine() -> None:
    engine = _engine()
    engine.send(_request("r0", 100), output_tokens=2, priority=0, now_s=0.0)
    finished = []
    while (due := engine.core.next_event_time()) is not None:
        finished += [e for e in engine.core.advance(due) if isinstance(e, events.Finished)]
    assert [event.request_id for event in finished] == ["r0"]
    engine.forget("r0")
    assert engine.snapshot(engine.core.now).running == ()
    assert engine.held == 0


def test_the_sums_carried_for_the_scheduler_equal_the_sums_over_the_running_requests() -> None:
    engine = _engine()
    targets = (0.03, 0.05, 0.1)
    for index in range(9):
        request = slo.Request(
            request_id=f"r{index}",
            model="m",
            slo_class=CLASS,
            arrival_s=0.0,
            prompt_tokens=100 + 10 * index,
            max_tokens=5 + 3 * index,
            tpot_target_s=targets[index % 3],
        )
        engine.send(request, output_tokens=5 + 3 * index, priority=0, now_s=0.0)
    while (due := engine.core.next_event_time()) is not None:
        for event in engine.core.advance(due):
            if isinstance(event, events.Finished):
                engine.forget(event.request_id)
        state = engine.snapshot(due)
        assert state.known_totals == engine_state.RunningTotals.of(state.running)
    assert engine.snapshot(engine.core.now).known_totals == engine_state.RunningTotals()


def test_policies_that_do_not_predict_get_no_carried_sums() -> None:
    engine = _engine(track_contexts=False)
    engine.send(_request("r0", 100), output_tokens=5, priority=0, now_s=0.0)
    assert engine.snapshot(0.0).known_totals is None
