import numpy as np
import pytest

from sloserve.sim import workload


def test_shipped_azure_trace_matches_its_published_summary() -> None:
    records = workload.load_trace()
    prompts = np.array([r.prompt_tokens for r in records])
    outputs = np.array([r.output_tokens for r in records])
    assert len(records) == 19_366
    assert records[-1].offset_s == pytest.approx(3_502, abs=5)
    assert prompts.mean() == pytest.approx(1155, rel=0.01)
    assert outputs.mean() == pytest.approx(211, rel=0.01)


def test_poisson_workload_has_the_requested_mean_rate() -> None:
    requests = workload.build_workload(count=4000, rate_rps=10.0, seed=1)
    duration = requests[-1].arrival_s - requests[0].arrival_s
    assert len(requests) / duration == pytest.approx(10.0, rel=0.05)
    assert [r.arrival_s for r in requests] == sorted(r.arrival_s for r in requests)


def test_gamma_arrivals_are_burstier_than_poisson() -> None:
    rng = np.random.default_rng(3)
    poisson = np.diff(
        workload.arrival_times(count=5000, rate_rps=5, process=workload.Arrivals.POISSON, rng=rng)
    )
    gamma = np.diff(
        workload.arrival_times(
            count=5000, rate_rps=5, process=workload.Arrivals.GAMMA, rng=rng, gamma_cv=3.0
        )
    )
    assert gamma.std() / gamma.mean() > 2 * poisson.std() / poisson.mean()


def test_trace_arrivals_are_rescaled_to_the_requested_rate() -> None:
    requests = workload.build_workload(count=500, rate_rps=20.0, arrivals=workload.Arrivals.TRACE)
    duration = requests[-1].arrival_s - requests[0].arrival_s
    assert (len(requests) - 1) / duration == pytest.approx(20.0, rel=1e-6)


def test_scorpio_limits_cap_prompt_and_total_length() -> None:
    requests = workload.build_workload(
        count=2000, rate_rps=10.0, limits=workload.SCORPIO_LIMITS, seed=2
    )
    assert max(r.prompt_tokens for r in requests) <= 1024
    assert max(r.prompt_tokens + r.output_tokens for r in requests) <= 2048
    assert min(r.output_tokens for r in requests) >= 1


def test_default_mix_uses_all_three_scorpio_classes_about_equally() -> None:
    requests = workload.build_workload(count=3000, rate_rps=10.0, seed=4)
    counts = {c.name: sum(r.slo_class is c for r in requests) for c in workload.SCORPIO_CLASSES}
    assert all(900 < n < 1100 for n in counts.values()), counts


def test_same_seed_gives_the_same_workload() -> None:
    first = workload.build_workload(count=100, rate_rps=5.0, seed=7)
    second = workload.build_workload(count=100, rate_rps=5.0, seed=7)
    assert first == second


def test_bad_rate_names_the_argument() -> None:
    with pytest.raises(ValueError, match="rate_rps"):
        workload.build_workload(count=10, rate_rps=0)
