"""Overload: does the gateway say no at arrival when engines with slot limits are full?

Two real-time engine simulators (`sloserve engine-sim --max-num-seqs 8`) behind `sloserve gateway`
(scorpio policy), two classes — interactive (TTFT 500 ms, TPOT 50 ms) and batch (10 s, 200 ms),
picked uniformly — and Poisson arrivals at `--load` times the engines' capacity (default 5) for
`--seconds` (default 60). Lengths come from the Azure LLM conversation trace shipped with the
simulator (prompt <= 1024, prompt + output <= 2048), sent as token ids with `ignore_eos` so the
engine produces exactly the `max_tokens` asked for. The load generator is bench/gateway/loadgen
(Go, `-mode schedule`): every request sent at its arrival time on its own goroutine, streamed, no
retries. (The OpenAI Python SDK, tried first, could not keep the schedule on a shared two-core
machine: its per-request CPU time let it send at a quarter of the asked rate.)

The same requests run twice, each time on fresh engines and a fresh gateway: with admission at
arrival (the default: the TTFT guard counts the wait for a free slot) and with hold-then-reject
(the gateway's behaviour before: requests that full engines cannot start are admitted, held, and
rejected once their slack is spent), the baseline for "no fewer served requests".

Capacity is measured in the simulator, not assumed: the same engines, every request of a long
workload arriving at once under first-come-first-served, requests completed per second. The
simulator then runs the same workload under the same guard (`scorpio-gateway`, gateway re-check
every 20 ms as the gateway's), for its share of rejections at arrival.

A rejection's latency is the client's: from sending the request to reading the 429. A
rejection counts as at arrival in the gateway's own terms when it was not admitted first
(`sloserve_requests_rejected_after_admission_total` counts those that were). Every request is
accounted when the client's counts of served and rejected requests equal the gateway's counters
and no request hung (each ended before the run's deadline) or got a 5xx.

    python bench/gateway/overload.py        # writes bench/results/overload.json
"""

from __future__ import annotations

import argparse
import collections
import json
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import overhead
import stack
from prometheus_client.parser import text_string_to_metric_families

from sloserve.scheduling import profile_files
from sloserve.sim import cluster, records, settings, simulator, workload

MODEL = "bench-model"
REPOSITORY = Path(__file__).resolve().parents[2]
RESULTS = REPOSITORY / "bench" / "results" / "overload.json"
CLASSES = (
    workload.ClassShare("interactive", ttft_s=0.5, tpot_s=0.05),
    workload.ClassShare("batch", ttft_s=10.0, tpot_s=0.2),
)
GATEWAY_CLASSES = [
    {
        "name": share.name,
        "ttft": f"{share.ttft_s * 1000:.0f}ms",
        "tpot": f"{share.tpot_s * 1000:.0f}ms",
    }
    for share in CLASSES
]
ENGINES = 2
MAX_NUM_SEQS = 8
AT_ARRIVAL_MS = 20.0
RECHECK_INTERVAL_S = 0.02
MODES = ("at-arrival", "hold-then-reject")


@dataclass(frozen=True)
class Outcome:
    """What the client saw of one request."""

    slo_class: str
    status: int  # 200 served, else the HTTP status
    code: str | None
    latency_s: float  # to the first token when served, to the answer otherwise
    tokens: int
    ended: bool


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def measured_capacity_rps(profile_name: str, seed: int) -> float:
    """Requests per second the engines complete when never idle (first come first served)."""
    requests = workload.build_workload(
        count=4000,
        rate_rps=10_000.0,
        classes=CLASSES,
        limits=workload.SCORPIO_LIMITS,
        seed=seed + 1,
    )
    result = simulator.simulate(requests, sim_config(profile_name, "fcfs"))
    ends = [r.ended_s for r in result.records if r.outcome is records.Outcome.SERVED]
    return len(ends) / (max(ends) - min(r.arrival_s for r in result.records))


def sim_config(profile_name: str, policy: str) -> settings.SimulationConfig:
    return settings.SimulationConfig(
        policy=policy,
        profile=profile_files.load_profile(profile_name),
        engines=ENGINES,
        engine_settings=cluster.EngineSettings(max_num_seqs=MAX_NUM_SEQS),
        recheck_interval_s=RECHECK_INTERVAL_S,
        model=MODEL,
    )


def simulated(profile_name: str, jobs: list[workload.WorkloadRequest]) -> dict[str, Any]:
    """The same workload through the simulator's copy of the gateway's guard."""
    result = simulator.simulate(jobs, sim_config(profile_name, "scorpio-gateway"))
    rejected = [r for r in result.records if r.outcome is records.Outcome.REJECTED]
    waits_ms = [(r.ended_s - r.arrival_s) * 1000.0 for r in rejected]
    at_arrival = sum(wait <= AT_ARRIVAL_MS for wait in waits_ms)
    return {
        "policy": "scorpio-gateway",
        "served": len(result.records) - len(rejected),
        "rejected": len(rejected),
        "rejected_at_arrival_fraction": round(at_arrival / len(rejected), 4) if rejected else None,
        "rejection_wait_ms": {
            "p50": rounded(percentile(waits_ms, 0.5)),
            "p90": rounded(percentile(waits_ms, 0.9)),
            "p99": rounded(percentile(waits_ms, 0.99)),
        },
    }


def drive(
    loadgen: Path, url: str, jobs: list[workload.WorkloadRequest], deadline_s: float
) -> list[Outcome]:
    """Send `jobs` at their times with the Go load generator; one outcome per job, in order."""
    with tempfile.TemporaryDirectory(prefix="sloserve-overload-") as scratch:
        schedule = Path(scratch) / "schedule.jsonl"
        with schedule.open("w") as lines:
            for job in jobs:
                body = {
                    "model": MODEL,
                    "prompt": [7] * job.prompt_tokens,
                    "max_tokens": job.output_tokens,
                    "stream": True,
                    "ignore_eos": True,
                }
                lines.write(
                    json.dumps({"at_s": job.arrival_s, "class": job.slo_class.name, "body": body})
                    + "\n"
                )
        answer = subprocess.run(
            [
                str(loadgen),
                "-mode=schedule",
                f"-schedule={schedule}",
                f"-timeout={deadline_s}",
                f"-api-key={stack.BENCH_KEY}",
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return [
        Outcome(
            slo_class=item["class"],
            status=item["status"],
            code=item.get("code") or None,
            latency_s=item["latency_ms"] / 1000.0,
            tokens=item["tokens"],
            ended=item["ended"],
        )
        for item in json.loads(answer.stdout)
    ]


def gateway_counters(url: str) -> dict[str, dict[str, float]]:
    """The gateway's request counters, summed by their reason or outcome label."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    wanted = {
        "sloserve_requests_total": None,
        "sloserve_requests_admitted_total": None,
        "sloserve_requests_rejected_total": "reason",
        "sloserve_requests_rejected_after_admission_total": "reason",
        "sloserve_requests_finished_total": "outcome",
    }
    counters: dict[str, dict[str, float]] = {name: {} for name in wanted}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                label = wanted[sample.name]
                key = "all" if label is None else sample.labels.get(label, "")
                counters[sample.name][key] = counters[sample.name].get(key, 0.0) + sample.value
    return counters


def summarize(outcomes: list[Outcome], counters: dict[str, dict[str, float]]) -> dict[str, Any]:
    served = [o for o in outcomes if o.status == 200]
    rejected = [o for o in outcomes if o.status in (429, 503)]
    latencies_ms = [o.latency_s * 1000.0 for o in rejected]
    by_class: dict[str, list[float]] = collections.defaultdict(list)
    for outcome in rejected:
        by_class[outcome.slo_class].append(outcome.latency_s * 1000.0)
    ttft_ms: dict[str, list[float]] = collections.defaultdict(list)
    for outcome in served:
        ttft_ms[outcome.slo_class].append(outcome.latency_s * 1000.0)
    gateway_rejected = sum(counters["sloserve_requests_rejected_total"].values())
    after_admission = sum(counters["sloserve_requests_rejected_after_admission_total"].values())
    gateway_finished = counters["sloserve_requests_finished_total"]
    hung = sum(not o.ended for o in outcomes)
    server_errors = sum(o.status >= 500 and o.status != 503 for o in outcomes)
    client_failures = sum(o.status == 0 for o in outcomes)
    accounted = (
        hung == 0
        and server_errors == 0
        and client_failures == 0
        and len(served) + len(rejected) == len(outcomes)
        and counters["sloserve_requests_total"].get("all", 0.0) == len(outcomes)
        and gateway_rejected == len(rejected)
        and gateway_finished.get("served", 0.0) == len(served)
    )
    return {
        "rejection_latency_ms": {
            "p50": rounded(percentile(latencies_ms, 0.5)),
            "p90": rounded(percentile(latencies_ms, 0.9)),
            "p99": rounded(percentile(latencies_ms, 0.99)),
        },
        "rejection_latency_ms_by_class": {
            name: {
                "p50": rounded(percentile(values, 0.5)),
                "p99": rounded(percentile(values, 0.99)),
            }
            for name, values in sorted(by_class.items())
        },
        "rejected_within_20ms_fraction": (
            round(sum(v <= AT_ARRIVAL_MS for v in latencies_ms) / len(latencies_ms), 4)
            if latencies_ms
            else None
        ),
        "rejected_at_arrival_fraction": (
            round(1.0 - after_admission / gateway_rejected, 4) if gateway_rejected else None
        ),
        "rejected_after_admission": int(after_admission),
        "sent": len(outcomes),
        "served": len(served),
        "rejected": len(rejected),
        "rejected_by_code": dict(collections.Counter(str(o.code) for o in rejected)),
        "served_by_class": dict(collections.Counter(o.slo_class for o in served)),
        "ttft_p99_ms": {
            name: rounded(percentile(values, 0.99)) for name, values in sorted(ttft_ms.items())
        },
        "ttft_p50_ms": {
            name: rounded(percentile(values, 0.5)) for name, values in sorted(ttft_ms.items())
        },
        "hung": hung,
        "server_errors": server_errors,
        "client_failures": client_failures,
        "gateway_counters": counters,
        "accounted": accounted,
    }


def run_mode(
    args: argparse.Namespace, mode: str, jobs: list[workload.WorkloadRequest], loadgen: Path
) -> dict[str, Any]:
    """The jobs through fresh engines and a fresh gateway admitting `mode`."""
    with stack.stack() as running:
        engines = [
            running.engine(
                model=MODEL,
                profile=args.profile,
                time_scale=1.0,
                extra=[f"--max-num-seqs={MAX_NUM_SEQS}"],
            )
            for _ in range(ENGINES)
        ]
        url = running.sloserve(
            model=MODEL,
            profile=args.profile,
            engines=engines,
            policy="scorpio",
            max_num_seqs=MAX_NUM_SEQS,
            classes=GATEWAY_CLASSES,
            default_class="batch",
            extra=[f"--admission={mode}"],
        )
        outcomes = drive(loadgen, url, jobs, deadline_s=args.deadline)
        time.sleep(0.5)  # the last streams' bookkeeping ends after their final chunk
        return {"admission": mode, **summarize(outcomes, gateway_counters(url))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="h100-llama3-8b")
    parser.add_argument("--load", type=float, default=5.0, help="times the measured capacity")
    parser.add_argument("--seconds", type=float, default=60.0, help="arrival window")
    parser.add_argument("--deadline", type=float, default=120.0, help="a request's longest wait")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    machine_before = stack.machine()
    capacity = measured_capacity_rps(args.profile, args.seed)
    rate = args.load * capacity
    jobs = workload.build_workload(
        count=max(1, round(rate * args.seconds)),
        rate_rps=rate,
        classes=CLASSES,
        limits=workload.SCORPIO_LIMITS,
        seed=args.seed,
    )
    runs = {}
    with tempfile.TemporaryDirectory(prefix="sloserve-loadgen-") as scratch:
        loadgen = overhead.build_loadgen(Path(scratch))
        for mode in args.modes.split(","):
            runs[mode] = run_mode(args, mode, jobs, loadgen)
            print(mode, json.dumps(runs[mode]), flush=True)
    sim = simulated(args.profile, jobs)
    headline = runs.get("at-arrival") or next(iter(runs.values()))
    baseline = runs.get("hold-then-reject")
    targets = {
        "rejected_within_20ms_fraction >= 0.90": (headline["rejected_within_20ms_fraction"] or 0)
        >= 0.90,
        "interactive rejection latency p99 <= 100 ms": (
            headline["rejection_latency_ms_by_class"].get("interactive", {}).get("p99") or 0
        )
        <= 100.0,
        "interactive ttft p99 <= 500 ms": (headline["ttft_p99_ms"].get("interactive") or 0)
        <= 500.0,
        "served >= hold-then-reject's": (
            baseline is None or headline["served"] >= baseline["served"]
        ),
        "accounted": headline["accounted"],
        "simulator's at-arrival fraction within 5 points": (
            sim["rejected_at_arrival_fraction"] is not None
            and headline["rejected_at_arrival_fraction"] is not None
            and abs(sim["rejected_at_arrival_fraction"] - headline["rejected_at_arrival_fraction"])
            <= 0.05
        ),
    }
    document = {
        # The headline: admission at arrival.
        "rejection_latency_ms": headline["rejection_latency_ms"],
        "rejected_at_arrival_fraction": headline["rejected_at_arrival_fraction"],
        "served": headline["served"],
        "rejected": headline["rejected"],
        "ttft_p99_ms": headline["ttft_p99_ms"],
        "accounted": headline["accounted"],
        "targets": targets,
        "runs": runs,
        "simulator": sim,
        "setup": {
            "engines": f"{ENGINES} x sloserve engine-sim --profile {args.profile} --time-scale 1 "
            f"--max-num-seqs {MAX_NUM_SEQS}",
            "gateway": "sloserve gateway --policy scorpio --admission MODE",
            "classes": {s.name: {"ttft_s": s.ttft_s, "tpot_s": s.tpot_s} for s in CLASSES},
            "class_mix": "uniform",
            "arrivals": "Poisson",
            "capacity_rps": round(capacity, 2),
            "load_over_capacity": args.load,
            "rate_rps": round(rate, 2),
            "seconds": args.seconds,
            "requests": len(jobs),
            "lengths": "Azure LLM conversation trace 2023, prompt <= 1024, prompt + output <= 2048",
            "load_generator": "bench/gateway/loadgen -mode schedule (Go net/http, a separate "
            "process): streaming completions, each request at its time on its own goroutine, "
            "no retries",
            "at_arrival_ms": AT_ARRIVAL_MS,
        },
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine_before": machine_before,
        "machine_after": stack.machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps({k: document[k] for k in ("targets", "simulator")}, indent=2))


if __name__ == "__main__":
    main()
