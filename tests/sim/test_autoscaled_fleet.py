"""The simulator under autoscaling: engines start after their start time, drained engines finish
what they hold before they go, and GPU-seconds count every engine from its request to its end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sim_helpers import PROFILE

from sloserve.sim import day_workload, fleet, records, settings, simulator, workload


@dataclasses.dataclass
class Scripted:
    """A policy that asks for the counts of `plan` (time → replicas), remembering what it saw."""

    plan: dict[float, int]
    name: str = "scripted"
    views: list[fleet.FleetView] = dataclasses.field(default_factory=list)

    def desired_replicas(self, view: fleet.FleetView) -> int:
        self.views.append(view)
        due = [count for when, count in self.plan.items() if when <= view.now_s]
        return due[-1] if due else view.current_replicas


def _requests(seconds: float, qps: float) -> list[workload.WorkloadRequest]:
    return day_workload.day_workload(
        day_workload.DayShape(day_s=seconds, trough_rps=qps, peak_rps=qps),
        limits=workload.SCORPIO_LIMITS,
        seed=1,
    )


def _simulate(
    requests: list[workload.WorkloadRequest], policy: fleet.ScalingPolicy, **scaling: float
) -> simulator.SimulationResult:
    config = fleet.ScalingConfig(
        policy=policy,
        initial_replicas=int(scaling.pop("initial", 1)),
        interval_s=10.0,
        window_s=30.0,
        **scaling,
    )
    return simulator.simulate(
        requests, settings.SimulationConfig(policy="scorpio-full", profile=PROFILE, scaling=config)
    )


def test_a_fixed_fleet_holds_its_engines_for_the_whole_run() -> None:
    requests = _requests(120, 2.0)
    result = _simulate(requests, Scripted(plan={}), initial=2)
    duration_s = max(r.ended_s for r in result.records) - requests[0].arrival_s
    assert result.gpu_seconds == pytest.approx(2 * duration_s)


def test_engines_asked_for_serve_only_after_their_start_time() -> None:
    requests = _requests(200, 4.0)
    result = _simulate(requests, Scripted(plan={50.0: 3}), start_time_s=40.0)
    first_use: dict[str, float] = {}
    for record in result.records:
        if record.engine_id is not None:
            first_use.setdefault(record.engine_id, record.dispatched_s or 0.0)
    added = {engine: when for engine, when in first_use.items() if engine != "engine-0"}
    assert set(added) == {"engine-1", "engine-2"}
    # asked for at the first decision at or after 50 s (the decision at 50.x s), ready 40 s later
    assert min(added.values()) >= 90.0


def test_drained_engines_finish_every_stream_they_hold() -> None:
    requests = _requests(300, 6.0)
    result = _simulate(requests, Scripted(plan={0.0: 4, 150.0: 1}), start_time_s=0.0)
    served = [r for r in result.records if r.outcome is records.Outcome.SERVED]
    assert len(served) + result.summary.overall.rejected == len(requests)
    # after the drain at the decision at 150.x s, one engine (whichever held least) takes it all
    kept = {r.engine_id for r in served if (r.dispatched_s or 0) > 160.0}
    assert len(kept) == 1
    assert {r.engine_id for r in served} == {"engine-0", "engine-1", "engine-2", "engine-3"}
    assert [count for _, count in result.replicas][-1] == 1


def test_scaling_down_saves_gpu_seconds() -> None:
    requests = _requests(300, 3.0)
    stays = _simulate(requests, Scripted(plan={}), initial=4)
    shrinks = _simulate(requests, Scripted(plan={0.0: 1}), initial=4)
    assert shrinks.gpu_seconds < stays.gpu_seconds / 2


def test_the_policy_sees_per_class_demand_and_the_fleet() -> None:
    policy = Scripted(plan={})
    _simulate(_requests(120, 5.0), policy, initial=2)
    view = policy.views[-1]
    assert {item.name for item in view.classes} == {"interactive", "standard", "batch"}
    assert sum(item.rate_rps for item in view.classes) == pytest.approx(5.0, rel=0.4)
    assert all(item.mean_prompt_tokens > 0 for item in view.classes)
    assert (view.ready_replicas, view.current_replicas, len(view.engines)) == (2, 2, 2)


def test_a_day_shape_follows_its_trough_peak_and_bursts() -> None:
    shape = day_workload.DayShape(
        day_s=1000,
        trough_rps=1.0,
        peak_rps=9.0,
        bursts=(day_workload.Burst(start_s=100, length_s=50, factor=3.0),),
    )
    requests = day_workload.day_workload(shape, seed=0)
    times = [r.arrival_s for r in requests]
    middle = sum(1 for t in times if 450 <= t < 550) / 100
    start = sum(1 for t in times if 0 <= t < 50) / 50
    assert middle == pytest.approx(9.0, rel=0.3)
    assert start < 2.5
    burst = sum(1 for t in times if 100 <= t < 150) / 50
    unburst = float(shape.rate_rps(np.array([125.0]))[0]) / 3
    assert burst == pytest.approx(3 * unburst, rel=0.3)
    assert unburst < 3
    assert times == sorted(times)
    assert max(times) <= 1000
