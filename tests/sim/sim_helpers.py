"""Builders shared by the simulator's tests: the synthetic profile (tests never depend on a
measured one) and small workloads of SCORPIO's classes and clamped trace lengths."""

from sloserve.engine import synthetic_profile
from sloserve.sim import settings, simulator, workload

PROFILE = synthetic_profile.build()

# Far beyond what one engine on the synthetic profile serves: queues, rejections, preemptions.
OVERLOAD_QPS = 120.0


def scorpio_workload(*, count: int, qps: float, seed: int = 0) -> list[workload.WorkloadRequest]:
    """Poisson arrivals at `qps`, trace lengths clamped to SCORPIO's limits, SCORPIO's classes."""
    return workload.build_workload(
        count=count, rate_rps=qps, limits=workload.SCORPIO_LIMITS, seed=seed
    )


def run(
    requests: list[workload.WorkloadRequest], policy: str, *, engines: int = 1
) -> simulator.SimulationResult:
    """Simulate `requests` under `policy` on `engines` synthetic-profile engines."""
    config = settings.SimulationConfig(policy=policy, profile=PROFILE, engines=engines)
    return simulator.simulate(requests, config)
