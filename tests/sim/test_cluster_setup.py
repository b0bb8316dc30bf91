"""Clusters, slowdowns and policies as the simulator builds them; bad settings are named."""

import pytest
from sim_helpers import PROFILE, run, scorpio_workload

from sloserve.engine import config
from sloserve.sim import cluster, policies, settings, simulator, workload


def test_policies_pair_the_named_gateway_and_engine_policies() -> None:
    assert policies.sim_policy("fcfs").engine is config.Policy.FCFS
    assert policies.sim_policy("priority").engine is config.Policy.PRIORITY
    assert policies.sim_policy("deadline").gateway.name == "deadline"
    assert policies.sim_policy("scorpio-gateway").engine is config.Policy.FCFS
    assert policies.sim_policy("scorpio-full").engine is config.Policy.CREDIT
    assert policies.sim_policy("scorpio-full").gateway.use_ttft_guard
    with pytest.raises(ValueError, match="scorpio-full"):
        policies.sim_policy("scorpio")


def test_class_priorities_rank_by_ttft_target() -> None:
    classes = cluster.slo_classes(workload.SCORPIO_CLASSES)
    assert [classes[name].priority for name in ("interactive", "standard", "batch")] == [0, 1, 2]


def test_engines_follow_vllm_defaults_on_an_h100_class_gpu() -> None:
    engine_config = cluster.EngineSettings().engine_config(PROFILE, config.Policy.FCFS)
    assert engine_config.max_num_seqs == 1024
    assert engine_config.max_num_batched_tokens == 8192


def test_a_cluster_spreads_requests_over_every_engine() -> None:
    result = run(scorpio_workload(count=200, qps=40.0, seed=6), "scorpio-full", engines=4)
    used = {record.engine_id for record in result.records if record.engine_id is not None}
    assert used == {"engine-0", "engine-1", "engine-2", "engine-3"}


def test_a_slowed_engine_serves_more_slowly() -> None:
    requests = scorpio_workload(count=150, qps=5.0, seed=7)
    alone = simulator.simulate(requests, settings.SimulationConfig(policy="fcfs", profile=PROFILE))
    slowed = simulator.simulate(
        requests, settings.SimulationConfig(policy="fcfs", profile=PROFILE, slowdowns=(2.0,))
    )
    alone_tpot = alone.summary.overall.tpot_p50_s
    slowed_tpot = slowed.summary.overall.tpot_p50_s
    assert alone_tpot is not None
    assert slowed_tpot is not None
    assert slowed_tpot > 1.5 * alone_tpot


def test_slowdowns_must_match_the_engines() -> None:
    with pytest.raises(ValueError, match="slowdowns has 2 values for 3 engines"):
        settings.SimulationConfig(policy="fcfs", profile=PROFILE, engines=3, slowdowns=(1.0, 2.0))


def test_a_request_longer_than_the_engines_hold_is_rejected_not_fatal() -> None:
    requests = workload.build_workload(count=50, rate_rps=1.0, seed=0)
    longest = max(requests, key=lambda request: request.prompt_tokens + request.output_tokens)
    sim_config = settings.SimulationConfig(
        policy="fcfs",
        profile=PROFILE,
        engine_settings=cluster.EngineSettings(max_model_len=2048),
    )
    [record] = simulator.simulate([longest], sim_config).records
    assert record.request_id == longest.request_id
    assert record.reject_reason == "prompt_too_long"
