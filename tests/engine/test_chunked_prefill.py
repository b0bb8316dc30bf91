"""Chunked prefill: decodes first, then prompt chunks up to the token budget (vLLM V1)."""

from __future__ import annotations

from engine_helpers import build_engine, run_to_idle, spec, steps_until_idle

from sloserve.engine import events


def test_a_long_prompt_is_prefilled_in_budget_sized_chunks() -> None:
    engine = build_engine(max_num_batched_tokens=100, max_model_len=1024)
    engine.add_request(spec("long", prompt=250, output=2), at=0.0)
    steps = steps_until_idle(engine)
    assert [s.prefill_tokens for s in steps[:3]] == [100, 100, 50]
    assert steps[3].decode_batch == 1


def test_the_first_token_comes_with_the_last_chunk() -> None:
    engine = build_engine(max_num_batched_tokens=100)
    engine.add_request(spec("long", prompt=250, output=2), at=0.0)
    steps = steps_until_idle(engine)
    fresh = build_engine(max_num_batched_tokens=100)
    fresh.add_request(spec("long", prompt=250, output=2), at=0.0)
    first = [e for e in run_to_idle(fresh) if isinstance(e, events.FirstToken)]
    assert first[0].time == steps[2].end


def test_decodes_take_their_tokens_before_a_new_prompt_gets_the_rest() -> None:
    engine = build_engine(max_num_batched_tokens=64)
    for index in range(4):
        engine.add_request(spec(f"d{index}", prompt=10, output=20), at=0.0)
    first = engine.step_in_flight()
    assert first is not None
    engine.add_request(spec("late", prompt=300, output=2), at=first.start + 1e-6)
    engine.advance(first.end)
    mixed = engine.step_in_flight()
    assert mixed is not None
    assert mixed.decode_batch == 4
    assert mixed.prefill_requests == ("late",)
    assert mixed.prefill_tokens == 64 - 4


def test_without_chunking_a_prompt_waits_until_it_fits_whole() -> None:
    engine = build_engine(
        max_num_batched_tokens=1024, max_model_len=1024, enable_chunked_prefill=False
    )
    for index in range(2):
        engine.add_request(spec(f"d{index}", prompt=10, output=30), at=0.0)
    engine.add_request(spec("big", prompt=1020, output=2), at=0.0)
    steps = steps_until_idle(engine)
    # 10 + 10 + 1020 tokens exceed the budget of 1024: the big prompt waits one step, whole
    assert steps[0].prefill_requests == ("d0", "d1")
    big_steps = [s for s in steps if "big" in s.prefill_requests]
    assert len(big_steps) == 1
    assert big_steps[0].prefill_tokens == 1020
    assert big_steps[0].decode_batch == 2
