"""Inference and fine-tuning on the same simulated engines: the naive policy trains at full
share and costs attainment under load; the guarded policy trains less and keeps attainment
close to inference alone; without fine-tuning nothing trains. Simulated time only."""

from __future__ import annotations

import functools

from sloserve.engine import profiles
from sloserve.finetune import cosim
from sloserve.sim import settings, workload


@functools.cache
def _run(policy: cosim.CoServingPolicy) -> cosim.CoServingResult:
    requests = workload.build_workload(
        count=2000, rate_rps=40.0, limits=workload.SCORPIO_LIMITS, seed=3
    )
    sim_config = settings.SimulationConfig(
        policy="scorpio-full", profile=profiles.resolve("h200-llama3-8b"), engines=2
    )
    return cosim.simulate(requests, sim_config, cosim.CoServingConfig(policy=policy))


def _worst(result: cosim.CoServingResult) -> float:
    return min(group.adherence for group in result.summary.by_class.values())


def test_without_fine_tuning_nothing_trains() -> None:
    result = _run(cosim.CoServingPolicy.NONE)
    assert result.finetune_tokens == 0
    assert result.mean_share == 0.0


def test_naive_co_location_trains_at_full_share_and_loses_attainment() -> None:
    alone = _run(cosim.CoServingPolicy.NONE)
    naive = _run(cosim.CoServingPolicy.NAIVE)
    assert naive.mean_share == 1.0
    assert _worst(naive) < _worst(alone) - 0.05


def test_the_guarded_policy_trains_and_keeps_attainment_near_inference_alone() -> None:
    alone = _run(cosim.CoServingPolicy.NONE)
    guarded = _run(cosim.CoServingPolicy.GUARDED)
    naive = _run(cosim.CoServingPolicy.NAIVE)
    assert 0 < guarded.finetune_tokens < naive.finetune_tokens
    # a short run at constant load: the guard's first ramp is a large part of it
    assert _worst(alone) - _worst(guarded) < (_worst(alone) - _worst(naive)) / 4
    assert len(guarded.records) == len(alone.records)
