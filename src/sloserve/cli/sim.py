"""`sloserve sim`: run the discrete-event cluster simulator on a workload and print its summary.

    sloserve sim run --policy scorpio-full --qps 15 --requests 512 --engines 1
    sloserve sim run --policy fcfs --qps 60 --requests 2048 --engines 4 --json

`--qps` is the arrival rate of the whole cluster. Lengths come from the Azure conversation trace
shipped with sloserve, clamped to SCORPIO's limits (prompt ≤ 1024, prompt + output ≤ 2048) unless
`--lengths trace`; classes are SCORPIO's three, picked uniformly.

    sloserve sim run --trace conversations.jsonl --time-scale 0.5 --max-requests 2000 \
        --policy scorpio-prefix --engines 4 --max-model-len 131072

`--trace FILE` replays a trace file instead (`sim.trace_files`: the Azure CSV, the Mooncake JSONL
with `hash_ids`, or sloserve's generic JSONL; `.gz` allowed) with its own arrivals times
`--time-scale` and its own lengths, classes by tenant unless the file names them. A request
longer than `--max-model-len` is counted as rejected (prompt_too_long), as vLLM answers it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from sloserve.engine import profiles
from sloserve.sim import (
    cluster,
    policies,
    prefix_workloads,
    settings,
    simulator,
    summary,
    trace_files,
    workload,
)

_LENGTHS = {"scorpio": workload.SCORPIO_LIMITS, "trace": workload.LengthLimits()}


@click.group()
def sim() -> None:
    """Discrete-event simulation of gateways and engines on a virtual clock."""


@sim.command()
@click.option(
    "--policy",
    type=click.Choice(policies.POLICY_NAMES),
    default="scorpio-full",
    show_default=True,
    help="Gateway and engine scheduling policy.",
)
@click.option(
    "--qps",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Mean arrival rate of the whole cluster, requests per second.",
)
@click.option(
    "--requests",
    "count",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Requests in the workload.",
)
@click.option(
    "--engines",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Identical engines behind the gateway.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Workload seed.")
@click.option(
    "--profile",
    default=profiles.DEFAULT_PROFILE,
    show_default=True,
    help="Latency profile: a shipped name, a path to a profile JSON file, or 'synthetic'.",
)
@click.option(
    "--arrivals",
    type=click.Choice([process.value for process in workload.Arrivals]),
    default=workload.Arrivals.POISSON.value,
    show_default=True,
    help="Arrival process: Poisson, Gamma (bursty, see --gamma-cv) or the trace's own times.",
)
@click.option(
    "--gamma-cv",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Coefficient of variation of Gamma inter-arrival gaps.",
)
@click.option(
    "--lengths",
    type=click.Choice(sorted(_LENGTHS)),
    default="scorpio",
    show_default=True,
    help="'scorpio': clamp to prompt ≤ 1024 and total ≤ 2048; 'trace': the trace's lengths.",
)
@click.option(
    "--slowdown",
    "slowdowns",
    type=click.FloatRange(min=0, min_open=True),
    multiple=True,
    help="Co-location slowdown of an engine (≥ 1 slows); once for all engines or once per engine.",
)
@click.option(
    "--max-num-seqs",
    type=click.IntRange(min=1),
    default=None,
    help="Engines' --max-num-seqs (default: vLLM's for the profile's GPU).",
)
@click.option(
    "--max-num-batched-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Engines' --max-num-batched-tokens (default: vLLM's for the GPU).",
)
@click.option(
    "--num-gpu-blocks-override",
    type=click.IntRange(min=1),
    default=None,
    help="Engines' KV-cache blocks (default: what fits beside the weights).",
)
@click.option(
    "--max-model-len",
    type=click.IntRange(min=1),
    default=8192,
    show_default=True,
    help="Engines' --max-model-len.",
)
@click.option(
    "--recheck-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds between gateway re-checks while requests wait (default: on events only).",
)
@click.option(
    "--trace",
    "trace_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Replay this trace file (Azure CSV, Mooncake JSONL or generic JSONL; .gz allowed).",
)
@click.option(
    "--trace-format",
    type=click.Choice([f.value for f in trace_files.TraceFormat]),
    default=None,
    help="The trace file's format (default: from its name and first line).",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="With --trace: multiplier on its arrival times (0.5 replays twice as fast).",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=1),
    default=None,
    help="With --trace: replay only its first N requests.",
)
@click.option(
    "--no-prefix-caching",
    is_flag=True,
    help="Engines without automatic prefix caching (vLLM's --no-enable-prefix-caching).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(
    *,
    policy: str,
    qps: float,
    count: int,
    engines: int,
    seed: int,
    profile: str,
    arrivals: str,
    gamma_cv: float,
    lengths: str,
    slowdowns: tuple[float, ...],
    max_num_seqs: int | None,
    max_num_batched_tokens: int | None,
    num_gpu_blocks_override: int | None,
    max_model_len: int,
    recheck_interval: float | None,
    trace_path: Path | None,
    trace_format: str | None,
    time_scale: float,
    max_requests: int | None,
    no_prefix_caching: bool,
    as_json: bool,
) -> None:
    """Simulate one workload under one policy and print goodput, adherence and latencies."""
    try:
        latency_profile = profiles.resolve(profile)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--profile") from error
    if len(slowdowns) not in (0, 1, engines):
        raise click.BadParameter(
            f"got {len(slowdowns)} values for {engines} engines: give it once for all engines "
            "or once per engine",
            param_hint="--slowdown",
        )
    if trace_path is not None:
        try:
            entries = trace_files.read_trace(
                trace_path, None if trace_format is None else trace_files.TraceFormat(trace_format)
            )
            requests = prefix_workloads.from_trace(
                entries, time_scale=time_scale, max_requests=max_requests
            )
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--trace") from error
    else:
        requests = workload.build_workload(
            count=count,
            rate_rps=qps,
            arrivals=workload.Arrivals(arrivals),
            limits=_LENGTHS[lengths],
            seed=seed,
            gamma_cv=gamma_cv,
        )
    config = settings.SimulationConfig(
        policy=policy,
        profile=latency_profile,
        engines=engines,
        slowdowns=slowdowns,
        engine_settings=cluster.EngineSettings(
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            num_gpu_blocks=num_gpu_blocks_override,
            max_model_len=max_model_len,
            enable_prefix_caching=not no_prefix_caching,
        ),
        recheck_interval_s=recheck_interval,
    )
    try:
        result = simulator.simulate(requests, config)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    described: dict[str, object] = {
        "policy": policy,
        "qps": qps,
        "requests": len(requests),
        "engines": engines,
        "seed": seed,
        "profile": latency_profile.name,
        "arrivals": arrivals,
        "lengths": lengths,
    }
    if trace_path is not None:
        described |= {"trace": trace_path.name, "time_scale": time_scale}
        for key in ("qps", "arrivals", "lengths", "seed"):
            del described[key]
    if as_json:
        document = {**described, "summary": dataclasses.asdict(result.summary)}
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(" ".join(f"{key}={value}" for key, value in described.items()))
    click.echo(_table(result.summary))


def _table(run_summary: summary.RunSummary) -> str:
    header = (
        f"{'class':<12} {'requests':>8} {'served':>7} {'rejected':>8} {'good':>6} "
        f"{'goodput/s':>9} {'adherence':>9} {'TTFT p50':>9} {'TTFT p99':>9} "
        f"{'TPOT p50':>9} {'TPOT p99':>9}"
    )
    rows = [header]
    entries = [*run_summary.by_class.items(), ("all", run_summary.overall)]
    for name, entry in entries:
        rows.append(
            f"{name:<12} {entry.requests:>8} {entry.served:>7} {entry.rejected:>8} "
            f"{entry.good:>6} {entry.goodput_rps:>9.2f} {entry.adherence:>9.3f} "
            f"{_ms(entry.ttft_p50_s):>9} {_ms(entry.ttft_p99_s):>9} "
            f"{_ms(entry.tpot_p50_s):>9} {_ms(entry.tpot_p99_s):>9}"
        )
    rows.append(f"duration {run_summary.duration_s:.1f} s (first arrival to last end)")
    return "\n".join(rows)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.0f} ms"
