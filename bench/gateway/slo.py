"""SLO attainment and goodput per class through sloserve's gateway versus vllm-router's round-robin.

The same real-time engine simulators (a latency profile measured on an H100 by default; one engine
by default, SCORPIO's setting, at its rates of 5 to 15 requests per second) serve, in turn,
traffic through `sloserve gateway` (scorpio policy) and through `vllm-router --policy
round_robin`. The load is SCORPIO's: Poisson arrivals at rising rates, each request in one of three
classes picked uniformly — (TTFT, TPOT) = (500 ms, 50 ms), (3 s, 30 ms), (15 s, 50 ms) — with prompt
and output lengths drawn from the Azure LLM conversation trace (prompt ≤ 1024 tokens, prompt +
output ≤ 2048, as SCORPIO caps them), sent as token ids with `ignore_eos` so the engine produces
exactly that many tokens. The load generator is the OpenAI Python SDK (streaming completions, no
retries).

A request is good when it was served with TTFT and TPOT = (E2E − TTFT) / (tokens − 1) both within
its class's targets; rejected requests count as misses. Per router, rate and class:
attainment = good / sent, goodput = good / seconds from the first arrival to the last answer.

    python bench/gateway/slo.py            # writes bench/results/gateway_slo.json
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import csv
import json
import random
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import stack

MODEL = "bench-model"
REPOSITORY = Path(__file__).resolve().parents[2]
RESULTS = REPOSITORY / "bench" / "results" / "gateway_slo.json"
TRACE = REPOSITORY.parent / "shared" / "data" / "azure_llm_2023_conv.csv"
CLASSES = {"interactive": (0.5, 0.05), "standard": (3.0, 0.03), "batch": (15.0, 0.05)}
# What `sloserve engine-sim` runs with on an H100-class profile unless told otherwise.
SIMULATOR_MAX_NUM_SEQS = 1024


@dataclass(frozen=True)
class Job:
    at_s: float
    slo_class: str
    prompt_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Result:
    slo_class: str
    served: bool
    refusal: str | None = None
    ttft_s: float | None = None
    e2e_s: float | None = None
    tokens: int = 0

    def good(self) -> bool:
        if not self.served or self.ttft_s is None or self.e2e_s is None:
            return False
        ttft_target, tpot_target = CLASSES[self.slo_class]
        tpot = (self.e2e_s - self.ttft_s) / (self.tokens - 1) if self.tokens > 1 else 0.0
        return self.ttft_s <= ttft_target and tpot <= tpot_target


def trace_lengths(path: Path) -> list[tuple[int, int]]:
    with path.open() as trace:
        rows = csv.DictReader(trace)
        pairs = [(int(row["ContextTokens"]), int(row["GeneratedTokens"])) for row in rows]
    return [(p, o) for p, o in pairs if 0 < p <= 1024 and o > 0 and p + o <= 2048]


def workload(lengths: list[tuple[int, int]], *, qps: float, seconds: float, seed: int) -> list[Job]:
    rng = random.Random(seed)
    jobs, now = [], 0.0
    while True:
        now += rng.expovariate(qps)
        if now >= seconds:
            return jobs
        prompt, output = rng.choice(lengths)
        jobs.append(Job(now, rng.choice(list(CLASSES)), prompt, output))


async def run_job(client: openai.AsyncOpenAI, job: Job) -> Result:
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    try:
        stream = await client.completions.create(
            model=MODEL,
            prompt=[7] * job.prompt_tokens,
            max_tokens=job.output_tokens,
            stream=True,
            extra_body={"ignore_eos": True},
            extra_headers={"x-slo-class": job.slo_class},
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].text:
                tokens += 1
                if first is None:
                    first = time.perf_counter()
    except openai.APIStatusError as error:
        code = error.body.get("code") if isinstance(error.body, dict) else None
        return Result(
            job.slo_class, served=False, refusal=f"{error.status_code} {code or ''}".strip()
        )
    except openai.APIError as error:
        return Result(job.slo_class, served=False, refusal=type(error).__name__)
    end = time.perf_counter()
    return Result(
        job.slo_class,
        served=tokens > 0,
        ttft_s=None if first is None else first - started,
        e2e_s=end - started,
        tokens=tokens,
    )


async def drive(url: str, jobs: list[Job]) -> tuple[list[Result], float]:
    client = openai.AsyncOpenAI(
        base_url=f"{url}/v1", api_key=stack.BENCH_KEY, max_retries=0, timeout=300.0
    )
    start = time.perf_counter()

    async def at(job: Job) -> Result:
        await asyncio.sleep(max(0.0, start + job.at_s - time.perf_counter()))
        return await run_job(client, job)

    results = await asyncio.gather(*(at(job) for job in jobs))
    elapsed = time.perf_counter() - start
    await client.close()
    return list(results), elapsed


def rows_for(
    router: str, qps: float, results: list[Result], elapsed: float
) -> list[dict[str, Any]]:
    rows = []
    for name in CLASSES:
        mine = [r for r in results if r.slo_class == name]
        good = sum(r.good() for r in mine)
        rows.append(
            {
                "router": router,
                "qps": qps,
                "class": name,
                "attainment": good / len(mine) if mine else None,
                "goodput_rps": good / elapsed,
                "requests": len(mine),
                "served": sum(r.served for r in mine),
                "good": good,
                "refused": dict(collections.Counter(r.refusal for r in mine if r.refusal)),
            }
        )
    return rows


def run_setting(
    args: argparse.Namespace, lengths: list[tuple[int, int]], max_num_seqs: int | None
) -> list[dict[str, Any]]:
    """Every rate through both routers, on fresh engines limited to `max_num_seqs` (None: the
    simulator's default)."""
    rows: list[dict[str, Any]] = []
    limit = [] if max_num_seqs is None else [f"--max-num-seqs={max_num_seqs}"]
    with stack.stack() as running:
        engines = [
            running.engine(model=MODEL, profile=args.profile, time_scale=1.0, extra=limit)
            for _ in range(args.engines)
        ]
        routers = {
            "sloserve": running.sloserve(
                model=MODEL,
                profile=args.profile,
                engines=engines,
                policy="scorpio",
                max_num_seqs=max_num_seqs or SIMULATOR_MAX_NUM_SEQS,
            ),
            "vllm_router": running.vllm_router(engines=engines),
        }
        for qps in (float(rate) for rate in args.rates.split(",")):
            jobs = workload(lengths, qps=qps, seconds=args.seconds, seed=args.seed)
            for router, url in routers.items():
                results, elapsed = asyncio.run(drive(url, jobs))
                for row in rows_for(router, qps, results, elapsed):
                    rows.append({**row, "engines": args.engines, "max_num_seqs": max_num_seqs})
                print(json.dumps(rows[-3:]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", type=int, default=1)
    parser.add_argument("--profile", default="h100-llama3-8b")
    parser.add_argument("--rates", default="5,10,15", help="total requests per second, rising")
    parser.add_argument("--seconds", type=float, default=30.0, help="arrival window per rate")
    parser.add_argument("--trace", type=Path, default=TRACE)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-num-seqs",
        default="default",
        help="comma-separated batch limits of the engines, one run each; 'default' is the "
        "simulator's (vLLM's for the profile's GPU). A low limit makes an engine saturate at "
        "rates this machine can drive in real time.",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    machine_before = stack.machine()
    lengths = trace_lengths(args.trace)
    rows: list[dict[str, Any]] = []
    for limit in args.max_num_seqs.split(","):
        rows += run_setting(args, lengths, None if limit == "default" else int(limit))
    document = {
        "rows": rows,
        "setup": {
            "engines": args.engines,
            "engine": f"sloserve engine-sim --profile {args.profile} --time-scale 1 "
            "[--max-num-seqs N, as each row's max_num_seqs; null: the simulator's default]",
            "classes": {name: {"ttft_s": t, "tpot_s": p} for name, (t, p) in CLASSES.items()},
            "arrivals": "Poisson",
            "seconds_per_rate": args.seconds,
            "lengths": "Azure LLM conversation trace 2023, prompt <= 1024, prompt + output <= 2048",
            "load_generator": "openai AsyncOpenAI, streaming completions, max_retries=0",
            "sloserve_policy": "scorpio",
            "vllm_router_policy": "round_robin",
        },
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine_before": machine_before,
        "machine_after": stack.machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
