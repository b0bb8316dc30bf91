"""A simulation is a function of its workload and configuration."""

from sim_helpers import OVERLOAD_QPS, run, scorpio_workload


def test_same_seed_gives_identical_records() -> None:
    first = run(scorpio_workload(count=250, qps=OVERLOAD_QPS, seed=11), "scorpio-full", engines=2)
    second = run(scorpio_workload(count=250, qps=OVERLOAD_QPS, seed=11), "scorpio-full", engines=2)
    assert first.records == second.records
    assert first.summary == second.summary


def test_another_seed_gives_another_run() -> None:
    first = run(scorpio_workload(count=250, qps=OVERLOAD_QPS, seed=11), "fcfs")
    second = run(scorpio_workload(count=250, qps=OVERLOAD_QPS, seed=12), "fcfs")
    assert first.records != second.records
