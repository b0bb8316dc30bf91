"""Continuous batching never exceeds max_num_seqs running requests or the step token budget."""

from __future__ import annotations

from engine_helpers import build_engine, finished, spec, steps_until_idle


def test_running_requests_never_exceed_max_num_seqs() -> None:
    engine = build_engine(max_num_seqs=3, max_num_batched_tokens=512)
    for index in range(7):
        engine.add_request(spec(f"r{index}", prompt=20, output=5), at=0.0)
    steps = steps_until_idle(engine)
    assert max(s.decode_batch + len(s.prefill_requests) for s in steps) == 3
    assert engine.snapshot().num_running == 0


def test_every_step_stays_within_the_token_budget() -> None:
    engine = build_engine(max_num_seqs=8, max_num_batched_tokens=64)
    for index in range(6):
        engine.add_request(spec(f"r{index}", prompt=50, output=4), at=0.0)
    steps = steps_until_idle(engine)
    assert all(s.prefill_tokens + s.decode_batch <= 64 for s in steps)
    assert any(s.prefill_tokens + s.decode_batch == 64 for s in steps)


def test_requests_beyond_the_limits_wait_and_all_finish_with_their_token_counts() -> None:
    engine = build_engine(max_num_seqs=2, max_num_batched_tokens=128)
    outputs = {f"r{index}": 3 + index for index in range(5)}
    for request_id, output in outputs.items():
        engine.add_request(spec(request_id, prompt=30, output=output), at=0.0)
    engine.next_event_time()
    assert engine.snapshot().num_waiting == 3
    produced = []
    while (due := engine.next_event_time()) is not None:
        produced.extend(engine.advance(due))
    done = finished(produced)
    assert {rid: f.stats.output_tokens for rid, f in done.items()} == outputs


def test_requests_arriving_together_share_their_first_step() -> None:
    engine = build_engine(max_num_batched_tokens=256)
    for index in range(3):
        engine.add_request(spec(f"r{index}", prompt=40, output=2), at=1.0)
    step = engine.step_in_flight()
    assert step is not None
    assert step.prefill_requests == ("r0", "r1", "r2")
    assert step.start == 1.0
