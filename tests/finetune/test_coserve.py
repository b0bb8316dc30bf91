"""The co-serving control core: headroom from attainment and predicted margins, the throttle's
back-off, hold, ramp, pause and eviction, and ASPEN packing. Time is injected."""

from __future__ import annotations

import pytest

from sloserve.finetune import coserve

SETTINGS = coserve.ThrottleSettings(
    low=0.2, high=0.5, backoff=0.5, ramp=0.1, ramp_interval_s=5.0, hold_s=15.0, evict_after_s=60.0
)


def test_headroom_is_the_smallest_of_the_known_margins() -> None:
    signals = coserve.ClassSignals(
        name="interactive", attainment=0.995, target_attainment=0.99,
        predicted_tpot_s=0.040, tpot_s=0.050,
    )  # fmt: skip
    assert coserve.class_headroom(signals) == pytest.approx(0.2)
    assert coserve.class_headroom(coserve.ClassSignals(name="idle")) is None


def test_the_class_with_the_least_headroom_is_named() -> None:
    lowest, name = coserve.smallest_headroom(
        [
            coserve.ClassSignals(name="batch", attainment=1.0),
            coserve.ClassSignals(name="interactive", attainment=0.97),
            coserve.ClassSignals(name="standard"),
        ]
    )
    assert name == "interactive"
    assert lowest == pytest.approx(-2.0)


def test_it_ramps_up_while_there_is_headroom() -> None:
    throttle = coserve.ThrottleController(SETTINGS, now_s=0.0)
    shares = [throttle.decide(5.0 * tick, 0.9).share for tick in range(1, 5)]
    assert shares == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_it_backs_off_at_once_when_a_class_is_at_risk_then_holds_before_ramping() -> None:
    throttle = coserve.ThrottleController(SETTINGS, now_s=0.0, share=0.8)
    cut = throttle.decide(1.0, 0.1, limiting="interactive")
    assert cut.share == pytest.approx(0.4)
    assert "interactive" in cut.reason
    assert throttle.decide(2.0, -0.5).share == pytest.approx(0.2)
    assert throttle.decide(10.0, 0.9).share == pytest.approx(0.2)  # held: 8 s after the cut
    assert throttle.decide(17.1, 0.9).share == pytest.approx(0.3)


def test_between_the_thresholds_it_holds() -> None:
    throttle = coserve.ThrottleController(SETTINGS, now_s=0.0, share=0.5)
    assert throttle.decide(100.0, 0.3).share == 0.5


def test_no_figures_never_ramp_up() -> None:
    throttle = coserve.ThrottleController(SETTINGS, now_s=0.0, share=0.3)
    decision = throttle.decide(100.0, None)
    assert decision.share == 0.3
    assert decision.reason == "no SLO figures"


def test_below_the_smallest_share_it_pauses_and_later_evicts() -> None:
    throttle = coserve.ThrottleController(SETTINGS, now_s=0.0, share=0.03)
    paused = throttle.decide(1.0, 0.0)
    assert (paused.share, paused.action) == (0.0, coserve.ThrottleAction.PAUSE)
    assert throttle.decide(30.0, 0.0).action is coserve.ThrottleAction.PAUSE
    assert throttle.decide(61.0, 0.0).action is coserve.ThrottleAction.EVICT


def test_a_paused_job_resumes_one_ramp_step_up() -> None:
    throttle = coserve.ThrottleController(SETTINGS, now_s=0.0, share=0.0)
    decision = throttle.decide(20.0, 0.9)
    assert decision.share == pytest.approx(SETTINGS.ramp)
    assert decision.action is coserve.ThrottleAction.RUN


def test_the_predicted_cap_bounds_the_share() -> None:
    throttle = coserve.ThrottleController(SETTINGS, now_s=0.0, share=0.6)
    decision = throttle.decide(100.0, 0.9, cap=0.35)
    assert decision.share == pytest.approx(0.35)
    assert decision.reason == "predicted interference caps the share at 0.35"


def test_a_share_at_the_jobs_max_share_says_so_not_interference() -> None:
    settings = coserve.ThrottleSettings(max_share=0.5, ramp=0.25, ramp_interval_s=1.0)
    throttle = coserve.ThrottleController(settings, now_s=0.0, share=0.5)
    decision = throttle.decide(10.0, 0.9)
    assert decision.share == pytest.approx(0.5)
    assert decision.reason == "maxShare caps the share at 0.50"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="low"):
        coserve.ThrottleSettings(low=0.5, high=0.5)


def test_jobs_on_one_base_model_share_a_worker_highest_priority_first() -> None:
    jobs = [
        coserve.FineTuneDemand(name="a", base="llama-1b", priority=0),
        coserve.FineTuneDemand(name="b", base="llama-8b"),
        coserve.FineTuneDemand(name="c", base="llama-1b", priority=10),
        coserve.FineTuneDemand(name="d", base="llama-1b", priority=5),
    ]
    packs = coserve.pack(jobs, max_jobs_per_worker=2)
    assert [(p.base, [job.name for job in p.jobs]) for p in packs] == [
        ("llama-1b", ["c", "d"]),
        ("llama-1b", ["a"]),
        ("llama-8b", ["b"]),
    ]


def test_packing_respects_the_memory_budget() -> None:
    jobs = [coserve.FineTuneDemand(name=n, base="m", memory_gib=3.0) for n in "abc"]
    assert [len(p.jobs) for p in coserve.pack(jobs, memory_budget_gib=7.0)] == [2, 1]


def test_a_workers_share_is_split_by_priority_and_adds_up() -> None:
    parts = coserve.split_share(
        0.6,
        [coserve.FineTuneDemand(name="hi", base="m", priority=100),
         coserve.FineTuneDemand(name="lo", base="m")],
    )  # fmt: skip
    assert parts["hi"] == pytest.approx(0.4)
    assert sum(parts.values()) == pytest.approx(0.6)
