"""Plain decode stretches run without the general step bookkeeping, with the same results."""

from __future__ import annotations

import random

import pytest
from engine_helpers import build_engine, spec

from sloserve.engine import config, core, events

TPOT_TARGETS_S = (0.02, 0.03, 0.05, 0.08)


def _finishes(
    engine: core.EngineCore, *, horizon: bool, mixed_targets: bool = False
) -> list[tuple[str, float, int]]:
    """Drive a mixed workload to the end; `horizon` lets the engine run silent steps itself;
    `mixed_targets` gives the requests TPOT targets (several cohorts under credit batching)."""
    rng = random.Random(7)
    arrivals = sorted(rng.uniform(0.0, 3.0) for _ in range(40))
    finished: list[tuple[str, float, int]] = []
    pending = list(enumerate(arrivals))
    while pending or engine.next_event_time() is not None:
        next_arrival = pending[0][1] if pending else None
        due = engine.next_event_time(next_arrival if horizon else None)
        if next_arrival is not None and (due is None or next_arrival < due):
            engine.advance(next_arrival)
            index, at = pending.pop(0)
            prompt, output = rng.randint(8, 300), rng.randint(1, 120)
            tpot_s = rng.choice(TPOT_TARGETS_S) if mixed_targets else None
            engine.add_request(
                spec(f"r{index}", prompt=prompt, output=output, tpot_s=tpot_s), at=at
            )
            continue
        assert due is not None
        for event in engine.advance(due):
            if isinstance(event, events.Finished):
                stats = event.stats
                finished.append((event.request_id, event.time, stats.num_preemptions))
    return finished


@pytest.mark.parametrize("policy", [config.Policy.FCFS, config.Policy.PRIORITY])
@pytest.mark.parametrize("horizon", [False, True])
def test_fast_forwarded_decode_finishes_exactly_as_step_by_step(
    policy: config.Policy, horizon: bool
) -> None:
    # token events keep every step on the general path; without them decode stretches are
    # fast-forwarded. A small KV pool makes preemptions part of the run.
    stepwise = build_engine(policy=policy, num_gpu_blocks=64, max_model_len=512, token_events=True)
    fast = build_engine(policy=policy, num_gpu_blocks=64, max_model_len=512, token_events=False)
    expected = _finishes(stepwise, horizon=horizon)
    assert len(expected) == 40
    assert any(preemptions for _, _, preemptions in expected)
    assert _finishes(fast, horizon=horizon) == expected


@pytest.mark.parametrize("horizon", [False, True])
@pytest.mark.parametrize("num_gpu_blocks", [64, 4096])
def test_fast_forwarded_credit_batching_finishes_exactly_as_step_by_step(
    horizon: bool, num_gpu_blocks: int
) -> None:
    # Mixed targets put decoding requests in several cohorts that take turns by credit; the fast
    # path steps them all, the general path (token events on) one step at a time.
    def build(token_events: bool) -> core.EngineCore:
        return build_engine(
            policy=config.Policy.CREDIT,
            num_gpu_blocks=num_gpu_blocks,
            max_model_len=512,
            token_events=token_events,
        )

    expected = _finishes(build(True), horizon=horizon, mixed_targets=True)
    assert len(expected) == 40
    assert _finishes(build(False), horizon=horizon, mixed_targets=True) == expected


def _events_with_horizon(
    engine: core.EngineCore, *, finishes_only: bool
) -> list[tuple[str, str, float]]:
    """Every event of a fixed workload, in order, driving the engine with a far horizon."""
    for index in range(12):
        engine.add_request(
            spec(f"r{index}", prompt=40 + 20 * index, output=5 + 7 * index), at=0.01 * index
        )
    collected: list[tuple[str, str, float]] = []
    while (due := engine.next_event_time(1e9, finishes_only=finishes_only)) is not None:
        produced = engine.advance(due)
        assert produced
        if finishes_only:
            # the run stops only at a finish, the last event collected
            assert isinstance(produced[-1], events.Finished)
        collected += [(type(event).__name__, event.request_id, event.time) for event in produced]
    assert not engine.has_pending_events
    return collected


def test_running_past_first_tokens_collects_the_same_events_in_the_same_order() -> None:
    # with finishes_only the engine runs past its first tokens (and preemptions, which the small
    # KV pool brings): they wait for the next advance, which returns them before the finish
    every_event = build_engine(num_gpu_blocks=48, max_model_len=512, token_events=False)
    finishes_only = build_engine(num_gpu_blocks=48, max_model_len=512, token_events=False)
    expected = _events_with_horizon(every_event, finishes_only=False)
    assert any(kind == "Preempted" for kind, _, _ in expected)
    assert _events_with_horizon(finishes_only, finishes_only=True) == expected


def test_pending_events_wait_for_the_next_advance() -> None:
    engine = build_engine(token_events=False)
    engine.add_request(spec("r0", prompt=50, output=40), at=0.0)
    # the first token comes after the first step; the finish much later
    due = engine.next_event_time(1e9, finishes_only=True)
    assert due is not None
    assert engine.has_pending_events
    kinds = [type(event).__name__ for event in engine.advance(due)]
    assert kinds == ["FirstToken", "Finished"]
    assert not engine.has_pending_events
