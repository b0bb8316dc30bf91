"""The simulator's own speed: simulated requests per wall-clock second over the SCORPIO sweep.

    python bench/sim/sim_speed.py --profile h100-llama3-8b --repeats 3 \
        --out bench/results/sim_speed.json
    python bench/sim/sim_speed.py --profile h100-llama3-8b --repeats 3 --pure-python \
        --out bench/results/sim_speed_pure_python.json

The installed build runs: the modules setup.py compiles run compiled (`make setup` builds them);
`--pure-python` runs the same benchmark in a child Python on a copy of the package's sources
only. Both give the same simulations record for record (tests/sim/test_compiled_build.py).

Every policy at every point of the sweep under vLLM's default engine configuration (one engine
at QPS 5-15 with 512 requests; four engines at 4x the rate with 2048; one engine overloaded at
QPS 30-60), seed 0. Each run is timed from `simulate()` to its result (building
the engines included, building the workload not), best of `--repeats`. The headline is the
requests of SCORPIO's setup and cluster scale over the sum of their times; the overload runs,
where the scheduler's queue walk dominates, are reported beside it. Wall-clock time on a shared
machine varies with its load: the load average at the start and end is recorded, and CPU time is
reported beside wall time. To show where the time goes, each run's dispatches (engine and time
of every served request) are also replayed into bare engine cores, without scheduler or loop:
`engines_alone_cpu_s` is that replay's CPU time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sweep

from sloserve import build_info
from sloserve.engine import requests as engine_requests
from sloserve.sim import cluster, policies, settings, simulator, workload

HEADLINE_SCENARIOS = ("scorpio-setup", "cluster")


@dataclasses.dataclass(frozen=True)
class Timing:
    """One policy at one load point: best wall and CPU seconds of the repeats."""

    policy: str
    scenario: str
    qps: float
    engines: int
    requests: int
    wall_s: float
    cpu_s: float
    engines_alone_cpu_s: float
    simulated_requests_per_s: float


def main() -> None:
    parser = argparse.ArgumentParser(description="the simulator's speed")
    parser.add_argument("--profile", default="h100-llama3-8b")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/sim_speed.json"))
    parser.add_argument(
        "--pure-python",
        action="store_true",
        help="run every module from source, though the installation has compiled ones",
    )
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.pure_python and build_info.compiled_modules():
        sys.exit(_run_from_sources())
    profile = sweep.load_profile(args.profile)
    document: dict[str, object] = {"benchmark": "sim_speed", **sweep.provenance(profile)}
    timings: list[Timing] = []
    for point in sweep.sweep_points(("vllm-defaults",)):
        requests = sweep.build_workload(point, seed=0)
        for name in policies.SCORPIO_POLICY_NAMES:
            config = settings.SimulationConfig(
                policy=name,
                profile=profile,
                engines=point.engines,
                engine_settings=point.engine_settings(),
            )
            simulator.simulate(requests[:50], config)  # warm caches (the latency-model fit)
            best_wall = best_cpu = best_alone = float("inf")
            for _ in range(args.repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                result = simulator.simulate(requests, config)
                best_wall = min(best_wall, time.perf_counter() - wall)
                best_cpu = min(best_cpu, time.process_time() - cpu)
            for _ in range(args.repeats):
                cpu = time.process_time()
                _replay_into_bare_engines(requests, result, config)
                best_alone = min(best_alone, time.process_time() - cpu)
            timing = Timing(
                policy=name,
                scenario=point.scenario,
                qps=point.qps,
                engines=point.engines,
                requests=point.requests,
                wall_s=round(best_wall, 4),
                cpu_s=round(best_cpu, 4),
                engines_alone_cpu_s=round(best_alone, 4),
                simulated_requests_per_s=round(point.requests / best_wall),
            )
            timings.append(timing)
            print(
                f"{timing.scenario:<13} engines {timing.engines} qps {timing.qps:>5} "
                f"{timing.policy:<16} "
                f"{timing.simulated_requests_per_s:>7} req/s",
                flush=True,
            )
    headline = [t for t in timings if t.scenario in HEADLINE_SCENARIOS]
    document.update(
        {
            "simulated_requests_per_s": _rate(headline, cpu=False),
            "simulated_requests_per_cpu_s": _rate(headline, cpu=True),
            "headline_runs": (
                "SCORPIO's setup (one engine, QPS 5-15) and its cluster scale (four engines, "
                "QPS 20-60): the issue's benchmarks (a) and (b); every policy, seed 0"
            ),
            "by_scenario": {
                scenario: _rate([t for t in timings if t.scenario == scenario], cpu=False)
                for scenario in dict.fromkeys(t.scenario for t in timings)
            },
            "by_policy": {
                name: _rate([t for t in headline if t.policy == name], cpu=False)
                for name in policies.SCORPIO_POLICY_NAMES
            },
            "engines_alone_share_of_cpu": {
                scenario: round(
                    sum(t.engines_alone_cpu_s for t in timings if t.scenario == scenario)
                    / sum(t.cpu_s for t in timings if t.scenario == scenario),
                    3,
                )
                for scenario in dict.fromkeys(t.scenario for t in timings)
            },
            "slowest_run_requests_per_s": min(t.simulated_requests_per_s for t in timings),
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
            "repeats": args.repeats,
            "workload": sweep.WORKLOAD_DESCRIPTION,
            "runs": [dataclasses.asdict(t) for t in timings],
        }
    )
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.out}: {document['simulated_requests_per_s']} simulated requests/s")


def _replay_into_bare_engines(
    requests: list[workload.WorkloadRequest],
    result: simulator.SimulationResult,
    config: settings.SimulationConfig,
) -> None:
    """Feed every served request to the engine and at the time the simulation dispatched it,
    then run the engines dry: the engines' share of a simulation, without scheduler or loop."""
    sim_policy = policies.sim_policy(config.policy)
    engine_config = config.engine_settings.engine_config(config.profile, sim_policy.engine)
    cores = {
        engine.engine_id: engine.core
        for engine in cluster.build_engines(
            profile=config.profile,
            engine_config=engine_config,
            slowdowns=config.engine_slowdowns(),
            track_contexts=False,
            context_refresh_s=config.context_refresh_s,
        )
    }
    classes = cluster.slo_classes([request.slo_class for request in requests])
    by_id = {request.request_id: request for request in requests}
    served = sorted(
        (record.dispatched_s, record.engine_id, record.request_id)
        for record in result.records
        if record.dispatched_s is not None and record.engine_id is not None
    )
    for dispatched_s, engine_id, request_id in served:
        request = by_id[request_id]
        slo_class = classes[request.slo_class.name]
        spec = engine_requests.RequestSpec(
            request_id=request_id,
            prompt_tokens=request.prompt_tokens,
            output_tokens=request.output_tokens,
            priority=slo_class.priority if sim_policy.class_priorities else 0,
            tpot_target_s=slo_class.tpot_s,
        )
        cores[engine_id].add_request(spec, at=dispatched_s)
    for core in cores.values():
        while (due := core.next_event_time()) is not None:
            core.advance(due)


def _run_from_sources() -> int:
    """This command again, in a child Python that imports the package from a copy of its
    sources: its exit status."""
    with tempfile.TemporaryDirectory() as scratch:
        sources = build_info.pure_python_copy(Path(scratch))
        path = os.pathsep.join(filter(None, [str(sources), os.environ.get("PYTHONPATH")]))
        child = subprocess.run(
            [sys.executable, *sys.argv], env={**os.environ, "PYTHONPATH": path}, check=False
        )
    return child.returncode


def _rate(timings: list[Timing], *, cpu: bool) -> int:
    """Requests over the summed best times of `timings`."""
    seconds = sum(t.cpu_s if cpu else t.wall_s for t in timings)
    return round(sum(t.requests for t in timings) / seconds)


if __name__ == "__main__":
    main()
