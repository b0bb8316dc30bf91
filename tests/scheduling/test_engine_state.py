import pytest

from sloserve.scheduling import engine_state


def _running(count, *, tpot_s=0.05, context_tokens=1000):
    return tuple(
        engine_state.RunningRequest(
            request_id=f"x{i}", tpot_s=tpot_s, context_tokens=context_tokens
        )
        for i in range(count)
    )


def test_dispatching_adds_a_waiting_request_and_queues_its_prompt(make_request):
    engine = engine_state.EngineState(engine_id="e0", max_num_seqs=8, running=_running(2))

    after = engine.with_dispatched(make_request("r", prompt_tokens=700, tpot_target_s=0.02))

    assert len(after.running) == 3
    assert after.waiting_requests == 1
    assert after.queued_prefill_tokens == 700
    assert after.tightest_tpot_s == pytest.approx(0.02)
    assert after.mean_context_tokens() == pytest.approx((2000 + 700) / 3)
    assert len(engine.running) == 2


def test_room_needs_a_free_sequence_a_short_waiting_line_and_free_kv():
    engine = engine_state.EngineState(
        engine_id="e0",
        max_num_seqs=4,
        running=_running(3),
        waiting_requests=1,
        queued_prefill_tokens=500,
        kv_free_tokens=1500,
    )

    assert engine.has_room(prompt_tokens=1000, max_waiting=None)
    assert not engine.has_room(prompt_tokens=1001, max_waiting=None)
    assert not engine.has_room(prompt_tokens=10, max_waiting=1)
    assert not engine_state.EngineState(
        engine_id="e1", max_num_seqs=3, running=_running(3)
    ).has_room(prompt_tokens=1, max_waiting=None)


def test_an_empty_engine_has_no_tightest_target_and_zero_mean_context():
    engine = engine_state.EngineState(engine_id="e0", max_num_seqs=1)

    assert engine.tightest_tpot_s == float("inf")
    assert engine.mean_context_tokens() == 0.0
    assert engine.mean_context_tokens(extra_context_tokens=300) == pytest.approx(300)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_num_seqs": 0}, "max_num_seqs"),
        ({"waiting_requests": 3}, "waiting_requests"),
        ({"queued_prefill_tokens": -1}, "queued_prefill_tokens"),
        ({"kv_free_tokens": -5}, "kv_free_tokens"),
        ({"slowdown": 0.0}, "slowdown"),
        ({"prefill_start_delay_s": -0.1}, "prefill_start_delay_s"),
    ],
)
def test_snapshot_errors_name_the_engine_and_the_field(fields, field):
    values = {"max_num_seqs": 8, "running": _running(2), **fields}

    with pytest.raises(ValueError, match=rf"engine 'e9' {field}"):
        engine_state.EngineState(engine_id="e9", **values)


def test_a_dispatch_keeps_the_engines_signals_and_the_requests_budget(make_request):
    engine = engine_state.EngineState(
        engine_id="e0", max_num_seqs=8, signals={"prefix_index": "blocks"}
    )

    after = engine.with_dispatched(make_request("r", max_tokens=64))

    assert after.signals == {"prefix_index": "blocks"}
    assert after.running[-1].max_tokens == 64
    assert after.running[-1].generated_tokens == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"generated_tokens": -1}, "generated_tokens must be at or above zero"),
        ({"max_tokens": 0}, "max_tokens must be at least 1 or None"),
    ],
)
def test_running_request_errors_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        engine_state.RunningRequest(request_id="x", tpot_s=0.05, context_tokens=10, **fields)
