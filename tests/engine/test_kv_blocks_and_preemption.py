"""KV-cache blocks: allocated as tokens are computed, freed on finish, reclaimed by preemption."""

from __future__ import annotations

from engine_helpers import build_engine, finished, run_to_idle, spec

from sloserve.engine import config, events


def _token_indices(produced: list[events.EngineEvent], request_id: str) -> list[int]:
    indices = []
    for event in produced:
        if event.request_id != request_id:
            continue
        if isinstance(event, events.FirstToken):
            indices.append(0)
        elif isinstance(event, events.Token):
            indices.append(event.index)
    return indices


def test_a_request_holds_one_block_per_block_size_tokens_it_is_computing() -> None:
    engine = build_engine(block_size=16)
    engine.add_request(spec("r", prompt=40, output=20), at=0.0)
    held = []
    while (step := engine.step_in_flight()) is not None:
        held.append(engine.held_blocks("r"))
        assert engine.snapshot().kv_blocks_used == held[-1]
        engine.advance(step.end)
    # the prefill step computes 40 tokens (3 blocks); decode step k computes token 40 + k
    expected = [3] + [-(-(40 + k + 1) // 16) for k in range(19)]
    assert held == expected


def test_every_block_is_free_again_when_all_requests_finished() -> None:
    engine = build_engine(num_gpu_blocks=64, max_model_len=512)
    for index in range(5):
        engine.add_request(spec(f"r{index}", prompt=37 * (index + 1), output=11), at=0.0)
    run_to_idle(engine)
    assert engine.snapshot().kv_blocks_used == 0


def test_running_out_of_blocks_preempts_the_latest_admitted_request_under_fcfs() -> None:
    engine = build_engine(num_gpu_blocks=16, max_model_len=256, max_num_batched_tokens=256)
    for index in range(3):
        engine.add_request(spec(f"r{index}", prompt=32, output=100), at=0.0)
    produced = run_to_idle(engine)
    preempted = [e.request_id for e in produced if isinstance(e, events.Preempted)]
    assert preempted[0] == "r2"
    done = finished(produced)
    assert all(f.stats.output_tokens == 100 for f in done.values())
    assert done["r2"].stats.num_preemptions >= 1
    assert engine.snapshot().kv_blocks_used == 0


def test_priority_preempts_the_lowest_priority_request_not_the_latest() -> None:
    engine = build_engine(
        num_gpu_blocks=16,
        max_model_len=256,
        max_num_batched_tokens=256,
        policy=config.Policy.PRIORITY,
    )
    engine.add_request(spec("urgent", prompt=32, output=100, priority=0), at=0.0)
    engine.add_request(spec("sheddable", prompt=32, output=100, priority=9), at=0.0)
    engine.add_request(spec("normal", prompt=32, output=100, priority=1), at=0.001)
    produced = run_to_idle(engine)
    preempted = [e.request_id for e in produced if isinstance(e, events.Preempted)]
    assert preempted[0] == "sheddable"
    assert "urgent" not in preempted


def test_a_preempted_request_recomputes_and_continues_without_losing_tokens() -> None:
    engine = build_engine(num_gpu_blocks=16, max_model_len=256, max_num_batched_tokens=256)
    for index in range(3):
        engine.add_request(spec(f"r{index}", prompt=32, output=100), at=0.0)
    produced = []
    resumed_prefill = None
    while (step := engine.step_in_flight()) is not None:
        produced.extend(engine.advance(step.end))
        was_preempted = any(isinstance(e, events.Preempted) for e in produced)
        if resumed_prefill is None and was_preempted and "r2" in step.prefill_requests:
            resumed_prefill = step
    assert _token_indices(produced, "r2") == list(range(100))
    assert resumed_prefill is not None
    # its recompute covers the prompt and every token generated before it lost its cache
    assert resumed_prefill.prefill_tokens > 32


def test_aborting_a_running_request_frees_its_blocks_and_silences_it() -> None:
    engine = build_engine()
    engine.add_request(spec("kept", prompt=64, output=10), at=0.0)
    engine.add_request(spec("dropped", prompt=64, output=10), at=0.0)
    step = engine.step_in_flight()
    assert step is not None
    engine.advance(step.end)
    assert engine.held_blocks("dropped") > 0
    assert engine.abort_request("dropped", at=step.end)
    assert engine.snapshot().kv_blocks_used == engine.held_blocks("kept")
    produced = run_to_idle(engine)
    assert all(e.request_id == "kept" for e in produced)
    assert not engine.abort_request("dropped", at=engine.now)
