"""SCORPIO's credit-based batching: a request with a looser TPOT target decodes in about
T_min/T_r of the steps, keeping its KV cache while it skips."""

from __future__ import annotations

import pytest
from engine_helpers import build_engine, finished, run_to_idle, spec

from sloserve.engine import config, core, events


def _credit_engine() -> core.EngineCore:
    return build_engine(policy=config.Policy.CREDIT)


def _token_times(produced: list[events.EngineEvent], request_id: str) -> list[float]:
    """When each of the request's tokens after the first was produced."""
    return [e.time for e in produced if isinstance(e, events.Token) and e.request_id == request_id]


@pytest.mark.parametrize(
    ("tight_s", "loose_s"), [(0.030, 0.050), (0.020, 0.080), (0.030, 0.030), (0.025, 0.1)]
)
def test_a_looser_request_decodes_in_tmin_over_tr_of_the_steps(
    tight_s: float, loose_s: float
) -> None:
    engine = _credit_engine()
    engine.add_request(spec("tight", prompt=16, output=201, tpot_s=tight_s), at=0.0)
    engine.add_request(spec("loose", prompt=16, output=201, tpot_s=loose_s), at=0.0)
    produced = run_to_idle(engine)
    tight_steps = _token_times(produced, "tight")
    loose_steps = set(_token_times(produced, "loose"))
    shared = sum(1 for t in tight_steps if t in loose_steps) / len(tight_steps)
    assert shared == pytest.approx(tight_s / loose_s, abs=0.01)


def test_the_tightest_request_decodes_in_every_step() -> None:
    engine = _credit_engine()
    engine.add_request(spec("tight", prompt=16, output=50, tpot_s=0.03), at=0.0)
    engine.add_request(spec("loose", prompt=16, output=10, tpot_s=0.09), at=0.0)
    step_ends = []
    produced = []
    while (step := engine.step_in_flight()) is not None:
        step_ends.append(step.end)
        produced.extend(engine.advance(step.end))
    tight_done = finished(produced)["tight"].stats.finished
    assert _token_times(produced, "tight") == [t for t in step_ends[1:] if t <= tight_done]


def test_requests_without_a_target_decode_like_the_tightest() -> None:
    engine = _credit_engine()
    engine.add_request(spec("tight", prompt=16, output=41, tpot_s=0.02), at=0.0)
    engine.add_request(spec("untargeted", prompt=16, output=41), at=0.0)
    produced = run_to_idle(engine)
    assert _token_times(produced, "untargeted") == _token_times(produced, "tight")


def test_a_skipped_request_keeps_its_kv_cache_and_its_place() -> None:
    engine = _credit_engine()
    engine.add_request(spec("tight", prompt=16, output=40, tpot_s=0.01), at=0.0)
    engine.add_request(spec("loose", prompt=40, output=40, tpot_s=0.1), at=0.0)
    prefill = engine.step_in_flight()
    assert prefill is not None
    engine.advance(prefill.end)
    held = []
    for _ in range(9):
        step = engine.step_in_flight()
        assert step is not None
        assert step.decode_batch == 1  # loose sits out these steps
        held.append(engine.held_blocks("loose"))
        engine.advance(step.end)
    assert held == [3] * 9  # the blocks of its 40 computed tokens, kept throughout
    assert engine.snapshot().num_running == 2


def test_when_the_tightest_request_leaves_the_others_decode_every_step() -> None:
    engine = _credit_engine()
    engine.add_request(spec("tight", prompt=16, output=5, tpot_s=0.01), at=0.0)
    engine.add_request(spec("loose", prompt=16, output=60, tpot_s=0.05), at=0.0)
    step_ends = []
    produced = []
    while (step := engine.step_in_flight()) is not None:
        step_ends.append(step.end)
        produced.extend(engine.advance(step.end))
    tight_done = finished(produced)["tight"].stats.finished
    loose_after = [t for t in _token_times(produced, "loose") if t > tight_done]
    assert loose_after == [t for t in step_ends if t > tight_done]
    assert len(loose_after) > 40


def test_fcfs_ignores_tpot_targets() -> None:
    engine = build_engine()
    engine.add_request(spec("tight", prompt=16, output=30, tpot_s=0.01), at=0.0)
    engine.add_request(spec("loose", prompt=16, output=30, tpot_s=0.1), at=0.0)
    produced = run_to_idle(engine)
    assert _token_times(produced, "loose") == _token_times(produced, "tight")


def test_every_request_decodes_in_steps_that_carry_a_prompt_chunk() -> None:
    engine = _credit_engine()
    engine.add_request(spec("tight", prompt=16, output=60, tpot_s=0.02), at=0.0)
    engine.add_request(spec("loose", prompt=16, output=60, tpot_s=0.08), at=0.0)
    # a long prompt arriving later keeps chunks in the steps for a while (256-token budget)
    engine.add_request(spec("long", prompt=900, output=2, tpot_s=0.08), at=0.0)
    produced = run_to_idle(engine)
    long_first = finished(produced)["long"].stats.first_token
    tight_early = [t for t in _token_times(produced, "tight") if t <= long_first]
    loose_early = [t for t in _token_times(produced, "loose") if t <= long_first]
    assert tight_early
    assert loose_early == tight_early
