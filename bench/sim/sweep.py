"""The SCORPIO sweep shared by the simulator benchmarks, and what every results file records.

SCORPIO's setup (arXiv 2505.23022): one Llama-3.1-8B engine, 512 requests, Poisson arrivals at
QPS 5 to 15, SLO classes picked uniformly among (TTFT, TPOT) = (500 ms, 50 ms), (3 s, 30 ms),
(15 s, 50 ms), prompts ≤ 1024 tokens and prompt + output ≤ 2048, output lengths forced. SCORPIO
draws lengths from ShareGPT; sloserve ships no ShareGPT, so lengths come from the Azure LLM
inference trace 2023 (conversation service), clamped to the same limits. The cluster scale runs 4
engines at 4× the rate with 4× the requests, so each engine sees the same load for as long.
On the measured H100 profile no policy misses at those rates, so an overload scenario adds rates
of 2x to 4x SCORPIO's top one, each run as long as SCORPIO's (about 34 s of arrivals). Every
point runs under two engine configurations: vLLM's defaults, and SCORPIO's published flags.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from sloserve import build_info
from sloserve.engine import profiles
from sloserve.scheduling import latency_profile
from sloserve.sim import cluster, settings, workload

SCORPIO_QPS = (5.0, 7.5, 10.0, 12.5, 15.0)
SCORPIO_REQUESTS = 512
CLUSTER_ENGINES = 4
# Beyond SCORPIO's range, where one engine on the measured H100 profile is overloaded; each run
# lasts as long as SCORPIO's QPS-15 run (512 requests, about 34 s of arrivals).
OVERLOAD_QPS = (30.0, 45.0, 60.0)
WORKLOAD_DESCRIPTION = (
    "Azure LLM inference trace 2023 (conversation) lengths, clamped to SCORPIO's limits "
    "(prompt <= 1024, prompt + output <= 2048) in place of ShareGPT; Poisson arrivals; "
    "SCORPIO's three classes picked uniformly; output lengths forced"
)
ENGINE_CONFIGS = {
    "vllm-defaults": cluster.EngineSettings(),
    "scorpio-testbed": cluster.EngineSettings(
        max_num_seqs=256, max_num_batched_tokens=1024, num_gpu_blocks=20000
    ),
}
ENGINE_CONFIG_DESCRIPTIONS = {
    "vllm-defaults": (
        "vLLM's defaults on an H100: max_num_seqs 1024, max_num_batched_tokens 8192, chunked "
        "prefill, KV cache in 90% of GPU memory less the weights"
    ),
    "scorpio-testbed": (
        "SCORPIO's published server flags (--max-num-batched-tokens 1024, "
        "--num-gpu-blocks-override 20000) with vLLM V0's default max_num_seqs 256; its "
        "--enforce-eager (slower steps without CUDA graphs) is not modelled"
    ),
}


@dataclass(frozen=True)
class SweepPoint:
    """One load point: `qps` is the whole cluster's rate."""

    scenario: str
    engine_config: str
    engines: int
    qps: float
    requests: int

    def engine_settings(self) -> cluster.EngineSettings:
        return ENGINE_CONFIGS[self.engine_config]


def sweep_points(engine_configs: tuple[str, ...] = tuple(ENGINE_CONFIGS)) -> list[SweepPoint]:
    """SCORPIO's points on one engine, the same per-engine load on the cluster, and sustained
    overload on one engine, for each engine configuration."""
    points = []
    for name in engine_configs:
        points += [
            SweepPoint("scorpio-setup", name, 1, qps, SCORPIO_REQUESTS) for qps in SCORPIO_QPS
        ]
        points += [
            SweepPoint(
                "cluster",
                name,
                CLUSTER_ENGINES,
                qps * CLUSTER_ENGINES,
                SCORPIO_REQUESTS * CLUSTER_ENGINES,
            )
            for qps in SCORPIO_QPS
        ]
        points += [
            SweepPoint("overload", name, 1, qps, round(qps * SCORPIO_REQUESTS / SCORPIO_QPS[-1]))
            for qps in OVERLOAD_QPS
        ]
    return points


def build_workload(point: SweepPoint, seed: int) -> list[workload.WorkloadRequest]:
    """The point's workload; every policy of a seed runs the same one."""
    return workload.build_workload(
        count=point.requests, rate_rps=point.qps, limits=workload.SCORPIO_LIMITS, seed=seed
    )


def load_profile(reference: str) -> latency_profile.LatencyProfile:
    """The profile `reference` names (shipped name, path or 'synthetic'); exits with the reason
    when there is none."""
    try:
        return profiles.resolve(reference)
    except ValueError as error:
        raise SystemExit(f"--profile: {error}") from error


def build_description() -> str:
    """Which build of the package ran: its modules compiled (setup.py) or pure Python."""
    compiled = build_info.compiled_modules()
    if not compiled:
        return "pure Python (every module from source)"
    return (
        f"compiled: {len(compiled)} of the {len(build_info.COMPILED_MODULES)} modules setup.py "
        "compiles with mypyc run as C extensions, the rest from source"
    )


def provenance(profile: latency_profile.LatencyProfile) -> dict[str, object]:
    """The command, date, machine and profile every results file records."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(Path.cwd())
    except ValueError:
        script = Path(script.name)
    return {
        "command": shlex.join(["python", str(script), *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        },
        "profile": {
            "name": profile.name,
            "device": profile.device,
            "measured_at": profile.provenance.measured_at,
        },
        "build": build_description(),
        "simulator": {
            "context_refresh_s": settings.SimulationConfig.context_refresh_s,
            "recheck_interval_s": settings.SimulationConfig.recheck_interval_s,
        },
    }
