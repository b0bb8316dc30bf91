"""Sums over running requests carried from one decision to the next equal the sums recomputed
from the requests, bit for bit (Σ 1/T_r as math.fsum gives it)."""

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sloserve.scheduling import engine_state, slo

# Any positive target, tiny and huge ones included (1/T_r then loses or needs subnormal bits).
_targets = st.one_of(
    st.sampled_from([0.03, 0.05, 0.1, 1 / 3]),
    st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False),
)
_contexts = st.integers(min_value=0, max_value=100_000)
_requests = st.lists(st.tuples(_targets, _contexts), max_size=60)


def _running(pairs: list[tuple[float, int]]) -> tuple[engine_state.RunningRequest, ...]:
    return tuple(
        engine_state.RunningRequest(request_id=f"r{i}", tpot_s=tpot_s, context_tokens=context)
        for i, (tpot_s, context) in enumerate(pairs)
    )


def _expected(pairs: list[tuple[float, int]]) -> tuple[int, float, int, float]:
    """count, Σ 1/T_r by math.fsum, Σ context, tightest target: what the guards used to sum."""
    return (
        len(pairs),
        math.fsum(1 / tpot_s for tpot_s, _ in pairs),
        sum(context for _, context in pairs),
        min((tpot_s for tpot_s, _ in pairs), default=math.inf),
    )


def _figures(totals: engine_state.RunningTotals) -> tuple[int, float, int, float]:
    return (
        totals.count,
        totals.inverse_tpot_sum,
        totals.context_tokens,
        totals.tightest_tpot_s,
    )


@given(pairs=_requests)
def test_totals_of_requests_equal_the_fsum_of_their_inverse_targets(pairs):
    assert _figures(engine_state.RunningTotals.of(_running(pairs))) == _expected(pairs)


@given(pairs=_requests)
def test_adding_requests_one_by_one_gives_the_totals_of_all_of_them(pairs):
    totals = engine_state.RunningTotals()
    for tpot_s, context in pairs:
        totals = totals.plus(tpot_s=tpot_s, context_tokens=context)
    assert totals == engine_state.RunningTotals.of(_running(pairs))
    assert _figures(totals) == _expected(pairs)


@st.composite
def _operations(draw: st.DrawFn) -> list[tuple[str, int, float, int]]:
    """A sequence of adds, removals of a present request and context growths."""
    present: list[int] = []
    operations: list[tuple[str, int, float, int]] = []
    for step in range(draw(st.integers(min_value=0, max_value=80))):
        kind = draw(st.sampled_from(["add", "add", "remove", "grow"]))
        if kind == "add" or not present:
            operations.append(("add", step, draw(_targets), draw(_contexts)))
            present.append(step)
        elif kind == "remove":
            victim = present.pop(draw(st.integers(min_value=0, max_value=len(present) - 1)))
            operations.append(("remove", victim, 0.0, 0))
        else:
            grown = present[draw(st.integers(min_value=0, max_value=len(present) - 1))]
            operations.append(("grow", grown, 0.0, draw(st.integers(min_value=0, max_value=500))))
    return operations


@given(operations=_operations())
def test_tracked_totals_equal_recomputed_ones_after_any_adds_removals_and_growth(operations):
    tracker = engine_state.RunningTotalsTracker()
    live: dict[int, tuple[float, int]] = {}
    for kind, key, tpot_s, amount in operations:
        if kind == "add":
            tracker.add(tpot_s=tpot_s, context_tokens=amount)
            live[key] = (tpot_s, amount)
        elif kind == "remove":
            target, context = live.pop(key)
            tracker.remove(tpot_s=target, context_tokens=context)
        else:
            target, context = live[key]
            live[key] = (target, context + amount)
            tracker.change_context(amount)
        assert _figures(tracker.totals()) == _expected(list(live.values()))


def test_an_inverse_target_beyond_floats_makes_the_sum_infinite_as_fsum_does():
    pairs = [(5e-324, 1), (0.05, 2)]
    totals = engine_state.RunningTotals.of(_running(pairs))
    assert totals.inverse_tpot_sum == math.fsum(1 / tpot_s for tpot_s, _ in pairs) == math.inf
    tracker = engine_state.RunningTotalsTracker()
    for tpot_s, context in pairs:
        tracker.add(tpot_s=tpot_s, context_tokens=context)
    assert tracker.totals().inverse_tpot_sum == math.inf
    tracker.remove(tpot_s=5e-324, context_tokens=1)
    assert tracker.totals().inverse_tpot_sum == 1 / 0.05


def test_removing_a_target_never_added_is_refused():
    tracker = engine_state.RunningTotalsTracker()
    tracker.add(tpot_s=0.05, context_tokens=10)
    with pytest.raises(ValueError, match=r"tpot_s 0\.03"):
        tracker.remove(tpot_s=0.03, context_tokens=10)


@given(pairs=_requests, arrivals=st.lists(st.tuples(_targets, st.integers(1, 4000)), max_size=8))
def test_dispatches_carry_the_sums_of_a_snapshot_that_has_them(pairs, arrivals):
    engine = engine_state.EngineState(engine_id="e0", max_num_seqs=10_000, running=_running(pairs))
    assert engine.totals == engine_state.RunningTotals.of(engine.running)  # a scheduler reads them
    for index, (tpot_s, prompt_tokens) in enumerate(arrivals):
        request = _request(f"new{index}", tpot_s=tpot_s, prompt_tokens=prompt_tokens)
        engine = engine.with_dispatched(request)
        assert engine.known_totals is not None
    recomputed = engine_state.RunningTotals.of(engine.running)
    assert engine.totals == recomputed
    assert engine.inverse_tpot_sum == math.fsum(1 / r.tpot_s for r in engine.running)
    assert engine.context_token_sum == sum(r.context_tokens for r in engine.running)
    assert engine.tightest_tpot_s == min((r.tpot_s for r in engine.running), default=math.inf)


def test_a_snapshot_whose_sums_were_never_read_does_not_sum_on_dispatch():
    engine = engine_state.EngineState(engine_id="e0", max_num_seqs=8, running=_running([(0.05, 9)]))
    after = engine.with_dispatched(_request("r", tpot_s=0.03, prompt_tokens=100))
    assert after.known_totals is None
    assert after.totals == engine_state.RunningTotals.of(after.running)


def test_a_copy_with_other_running_requests_sums_them_afresh():
    engine = engine_state.EngineState(engine_id="e0", max_num_seqs=8, running=_running([(0.05, 9)]))
    assert engine.context_token_sum == 9
    other = dataclasses.replace(engine, running=_running([(0.03, 500)]))
    assert (other.context_token_sum, other.tightest_tpot_s) == (500, 0.03)


def test_given_totals_must_count_the_running_requests():
    with pytest.raises(ValueError, match="known_totals count 2 differs"):
        engine_state.EngineState(
            engine_id="e0",
            max_num_seqs=8,
            running=_running([(0.05, 1)]),
            known_totals=engine_state.RunningTotals.of(_running([(0.05, 1), (0.05, 1)])),
        )


def test_dispatching_keeps_every_other_field():
    engine = engine_state.EngineState(
        engine_id="e1",
        max_num_seqs=32,
        running=_running([(0.05, 100)]),
        queued_prefill_tokens=5,
        kv_free_tokens=1000,
        slowdown=2.0,
        prefill_start_delay_s=0.2,
    )
    after = engine.with_dispatched(_request("r", tpot_s=0.05, prompt_tokens=40))
    changed = {"running", "waiting_requests", "queued_prefill_tokens", "known_totals"}
    for field in dataclasses.fields(engine_state.EngineState):
        if field.name not in changed:
            assert getattr(after, field.name) == getattr(engine, field.name), field.name
    assert (after.waiting_requests, after.queued_prefill_tokens) == (1, 45)


def _request(request_id: str, *, tpot_s: float, prompt_tokens: int) -> slo.Request:
    return slo.Request(
        request_id=request_id,
        model="m",
        slo_class=slo.SLOClass(name="c", ttft_s=1.0, tpot_s=tpot_s),
        arrival_s=0.0,
        prompt_tokens=prompt_tokens,
        max_tokens=10,
    )
