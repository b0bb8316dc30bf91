"""With a re-check timer, queued requests that can no longer make it are refused before their
deadline, as a gateway does."""

from sim_helpers import OVERLOAD_QPS, PROFILE, scorpio_workload

from sloserve.sim import records, settings, simulator


def test_recheck_rejects_unattainable_requests_before_their_deadline() -> None:
    requests = scorpio_workload(count=400, qps=OVERLOAD_QPS, seed=8)
    sim_config = settings.SimulationConfig(
        policy="scorpio-gateway", profile=PROFILE, recheck_interval_s=0.02
    )
    result = simulator.simulate(requests, sim_config)
    rejected = [r for r in result.records if r.outcome is records.Outcome.REJECTED]
    assert rejected
    assert all(record.ended_s < record.arrival_s + record.ttft_target_s for record in rejected)
