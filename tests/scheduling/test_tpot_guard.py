import pytest
from hypothesis import given
from hypothesis import strategies as st

from sloserve.scheduling import engine_state, tpot_guard

_targets = st.floats(min_value=0.001, max_value=1.0, allow_nan=False)


def _engine(tpots_s, *, context_tokens=1000, slowdown=1.0) -> engine_state.EngineState:
    running = tuple(
        engine_state.RunningRequest(request_id=f"x{i}", tpot_s=t, context_tokens=context_tokens)
        for i, t in enumerate(tpots_s)
    )
    return engine_state.EngineState(
        engine_id="e0", max_num_seqs=1024, running=running, slowdown=slowdown
    )


def _check(engine, tpot_s, latency, context_tokens=1000):
    return tpot_guard.check(
        engine=engine, tpot_s=tpot_s, context_tokens=context_tokens, latency=latency
    )


@given(target=_targets, count=st.integers(min_value=1, max_value=300))
def test_virtual_batch_equals_the_count_when_all_targets_are_equal(target, count):
    assert tpot_guard.virtual_batch_size([target] * count) == pytest.approx(count, rel=1e-12)


@given(targets=st.lists(_targets, min_size=1, max_size=50), looser_by=st.floats(1.0, 100.0))
def test_adding_a_looser_request_adds_at_most_one(targets, looser_by):
    looser = max(targets) * looser_by
    before = tpot_guard.virtual_batch_size(targets)

    after = tpot_guard.virtual_batch_size([*targets, looser])

    assert 0 < after - before <= 1 + 1e-9
    if looser > min(targets) * (1 + 1e-9):
        assert after - before < 1


@given(targets=st.lists(_targets, min_size=1, max_size=50))
def test_virtual_batch_lies_between_one_and_the_count(targets):
    vbs = tpot_guard.virtual_batch_size(targets)

    assert 1 - 1e-12 <= vbs <= len(targets) + 1e-9


@given(targets=st.lists(_targets, max_size=50), candidate=_targets)
def test_engine_check_uses_the_virtual_batch_of_running_plus_candidate(targets, candidate, latency):
    check = _check(_engine(targets), candidate, latency)

    assert check.virtual_batch_size == pytest.approx(
        tpot_guard.virtual_batch_size([*targets, candidate]), rel=1e-9
    )
    assert check.tightest_tpot_s == min([*targets, candidate])


def test_admits_while_the_inflated_step_stays_under_the_tightest_target(latency):
    # Step at context 1000 is 0.06·B + 7.5 ms; 1.3 × step < 0.99 × 30 ms holds up to B ≈ 255.
    admitted = _check(_engine([0.03] * 200), 0.03, latency)
    refused = _check(_engine([0.03] * 300), 0.03, latency)

    assert admitted.admitted
    assert admitted.predicted_step_s == pytest.approx((0.06 * 201 + 7.5) / 1e3)
    assert not refused.admitted
    assert refused.virtual_batch_size == pytest.approx(301)


def test_looser_requests_weigh_less_so_a_tight_one_still_fits(latency):
    # 300 requests at 50 ms count as 180 against a 30 ms newcomer.
    check = _check(_engine([0.05] * 300), 0.03, latency)

    assert check.virtual_batch_size == pytest.approx(181)
    assert check.admitted


def test_slowdown_scales_the_predicted_step(latency):
    plain = _check(_engine([0.03] * 200), 0.03, latency)
    slowed = _check(_engine([0.03] * 200, slowdown=1.5), 0.03, latency)

    assert slowed.predicted_step_s == pytest.approx(1.5 * plain.predicted_step_s)
    assert not slowed.admitted


def test_a_target_faster_than_an_idle_engine_is_refused_even_alone(latency):
    busy = _engine([0.05] * 10)

    alone = tpot_guard.check_alone(engine=busy, tpot_s=0.008, context_tokens=1000, latency=latency)

    assert alone.virtual_batch_size == pytest.approx(1)
    assert not alone.admitted
    assert tpot_guard.check_alone(
        engine=busy, tpot_s=0.05, context_tokens=1000, latency=latency
    ).admitted
