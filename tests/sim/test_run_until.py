"""Stopping the event loop at given times and changing an engine's slowdown there: stopping
alone changes no record, and a slower engine serves the rest of the run later."""

from __future__ import annotations

import math

from sim_helpers import PROFILE, scorpio_workload

from sloserve.sim import event_loop, records, settings, workload


def _loop(requests: list[workload.WorkloadRequest], engines: int = 2) -> event_loop.EventLoop:
    config = settings.SimulationConfig(policy="scorpio-full", profile=PROFILE, engines=engines)
    return event_loop.EventLoop(requests, config)


def test_stopping_every_second_changes_no_record() -> None:
    requests = scorpio_workload(count=300, qps=20.0, seed=4)
    whole, _ = _loop(requests).run()
    stopped = _loop(requests)
    t = 0.0
    ended = 0
    while stopped.run_until(t):
        ended += len(stopped.ended_since(ended))
        t += 1.0
    pieces, _ = stopped.run()
    assert pieces == whole
    assert ended + len(stopped.ended_since(ended)) == len(whole)


def test_a_slowdown_set_midway_slows_what_follows() -> None:
    requests = scorpio_workload(count=300, qps=20.0, seed=4)
    base, _ = _loop(requests).run()
    slowed = _loop(requests)
    middle_s = requests[150].arrival_s
    slowed.run_until(middle_s)
    for index in range(slowed.engine_count):
        slowed.set_slowdown(index, 2.0)
    later, _ = slowed.run()

    def mean_tpot(ended: tuple[records.RequestRecord, ...]) -> float:
        values = [r.tpot_s for r in ended if r.arrival_s > middle_s and r.tpot_s]
        return sum(values) / len(values) if values else math.nan

    done_before = [r for r in base if r.ended_s < middle_s]
    assert done_before
    assert [r for r in later if r.ended_s < middle_s] == done_before
    assert mean_tpot(later) > 1.5 * mean_tpot(base)
