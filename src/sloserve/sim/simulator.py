"""Running a simulation: `simulate(workload, config)` and what it returns.

See `event_loop` for how a run proceeds, `engines` for what the scheduler sees of each engine,
`summary` for the metrics.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sloserve.sim import event_loop, records, settings, summary, workload


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationResult:
    """Every request's record (in arrival order), the run's summary, the loop's counters, the
    engine-seconds the run held (GPU-seconds at one GPU per engine), and the engines asked for
    over time (one entry for a fixed cluster; one per decision when autoscaled); with online
    calibration, the calibrator's factors after each engine step it observed (the step's start
    time, prefill factor, decode factor)."""

    records: tuple[records.RequestRecord, ...]
    summary: summary.RunSummary
    counters: event_loop.RunCounters
    gpu_seconds: float
    replicas: tuple[tuple[float, int], ...]
    calibration_trace: tuple[tuple[float, float, float], ...] = ()


def simulate(
    requests: Sequence[workload.WorkloadRequest], sim_config: settings.SimulationConfig
) -> SimulationResult:
    """Run `requests` (any order) through the cluster and policy of `sim_config`.

    Raises ValueError for an empty workload or a duplicate request id. A request longer than
    the engines' `max_model_len` is not an error: it is recorded as rejected with reason
    prompt_too_long, as vLLM answers it with a 400.
    """
    loop = event_loop.EventLoop(requests, sim_config)
    request_records, counters = loop.run()
    return SimulationResult(
        records=request_records,
        summary=summary.summarize(request_records),
        counters=counters,
        calibration_trace=tuple(loop.calibration_trace),
        gpu_seconds=loop.gpu_seconds,
        replicas=loop.replica_series,
    )
