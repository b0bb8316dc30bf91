"""What each policy does at the two ends of the load range."""

import pytest
from sim_helpers import OVERLOAD_QPS, run, scorpio_workload

from sloserve.sim import policies


@pytest.mark.parametrize("policy", policies.POLICY_NAMES)
def test_light_load_meets_nearly_every_objective(policy: str) -> None:
    result = run(scorpio_workload(count=150, qps=1.0, seed=1), policy)
    assert result.summary.overall.rejected == 0
    assert result.summary.overall.adherence >= 0.97


def test_overload_makes_scorpio_reject_and_fcfs_miss() -> None:
    requests = scorpio_workload(count=400, qps=OVERLOAD_QPS, seed=2)
    fcfs = run(requests, "fcfs").summary.overall
    scorpio = run(requests, "scorpio-full").summary.overall
    assert fcfs.rejected == 0
    assert fcfs.adherence < 0.3
    assert scorpio.rejected_by_reason.get("ttft_unattainable", 0) > 0
    assert scorpio.adherence > fcfs.adherence


def test_priority_serves_the_tightest_class_first_under_overload() -> None:
    requests = scorpio_workload(count=400, qps=OVERLOAD_QPS, seed=5)
    fcfs_ttft = run(requests, "fcfs").summary.by_class["interactive"].ttft_p50_s
    priority_ttft = run(requests, "priority").summary.by_class["interactive"].ttft_p50_s
    assert fcfs_ttft is not None
    assert priority_ttft is not None
    assert priority_ttft < fcfs_ttft
