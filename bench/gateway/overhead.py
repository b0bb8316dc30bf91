"""What the gateway adds: latency at a fixed rate, and the most requests per second it carries.

Side by side in one run, with the same engine simulators at zero latency (`--time-scale 0`):
`direct` (the load generator round-robins over the engines itself), `sloserve` (the gateway,
scorpio policy), `sloserve_fcfs` (the gateway forwarding at once, the cost of the proxy alone) and
`vllm_router` (round-robin). Each request is a streamed completion of a
16-token prompt (token ids) and 8 output tokens; latency is to the end of the stream.

1. Added latency: requests at a constant 100 req/s for `--seconds`; p50 and p99 of each target
   minus those of `direct`.
2. Maximum rate: a closed loop of `--concurrency` clients for `--seconds`; completed requests per
   second.

The load generator shares the machine's cores with everything it measures, so the maximum rates
are those of this machine with that load generator running, not of the servers alone.

    python bench/gateway/overhead.py            # writes bench/results/gateway_overhead.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import stack

MODEL = "bench-model"
PROFILE = "synthetic"
RESULTS = Path(__file__).resolve().parents[1] / "results" / "gateway_overhead.json"
BODY = {
    "model": MODEL,
    "prompt": list(range(1, 17)),
    "max_tokens": 8,
    "ignore_eos": True,
    "stream": True,
}


async def one_request(session: aiohttp.ClientSession, url: str) -> float:
    """Seconds until the stream ended; raises on any failure."""
    started = time.perf_counter()
    async with session.post(
        f"{url}/v1/completions",
        json=BODY,
        headers={"authorization": f"Bearer {stack.BENCH_KEY}"},
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
        payload = await response.read()
    if not payload.rstrip().endswith(b"data: [DONE]"):
        raise RuntimeError("stream ended without [DONE]")
    return time.perf_counter() - started


async def fixed_rate(urls: list[str], *, rate: float, seconds: float) -> dict[str, Any]:
    """Latencies (ms) of requests sent at `rate` per second, round-robin over `urls`."""
    targets = itertools.cycle(urls)
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(url: str) -> None:
            nonlocal errors
            try:
                latencies.append(await one_request(session, url) * 1000.0)
            except (aiohttp.ClientError, RuntimeError):
                errors += 1

        for url in urls:  # warm the connections
            await send(url)
        latencies.clear()
        tasks = []
        start = time.perf_counter()
        for index in range(int(rate * seconds)):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(next(targets))))
        await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": _quantile(latencies, 0.50),
        "p99_ms": _quantile(latencies, 0.99),
        "mean_ms": statistics.fmean(latencies) if latencies else None,
    }


async def closed_loop(urls: list[str], *, concurrency: int, seconds: float) -> dict[str, Any]:
    """Completed requests per second with `concurrency` clients sending back to back."""
    targets = itertools.cycle(urls)
    completed = 0
    errors = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal completed, errors
            while time.perf_counter() < deadline:
                try:
                    await one_request(session, next(targets))
                    completed += 1
                except (aiohttp.ClientError, RuntimeError):
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"max_rps": completed / elapsed, "completed": completed, "errors": errors}


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def measure(
    targets: dict[str, list[str]], *, rate: float, seconds: float, concurrency: int
) -> dict[str, Any]:
    latency = {
        name: await fixed_rate(urls, rate=rate, seconds=seconds) for name, urls in targets.items()
    }
    throughput = {
        name: await closed_loop(urls, concurrency=concurrency, seconds=seconds)
        for name, urls in targets.items()
    }
    direct = latency["direct"]
    results: dict[str, Any] = {}
    for name in targets:
        measured = latency[name]
        results[name] = {
            "p50_ms": 0.0 if name == "direct" else measured["p50_ms"] - direct["p50_ms"],
            "p99_ms": 0.0 if name == "direct" else measured["p99_ms"] - direct["p99_ms"],
            "max_rps": throughput[name]["max_rps"],
            "latency_at_rate": measured,
            "closed_loop": throughput[name],
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    machine_before = stack.machine()
    with stack.stack() as running:
        engines = [
            running.engine(model=MODEL, profile=PROFILE, time_scale=0.0)
            for _ in range(args.engines)
        ]
        targets = {
            "direct": engines,
            "sloserve": [
                running.sloserve(model=MODEL, profile=PROFILE, engines=engines, policy="scorpio")
            ],
            # The same gateway forwarding at once (no holding, no guards): its cost alone.
            "sloserve_fcfs": [
                running.sloserve(model=MODEL, profile=PROFILE, engines=engines, policy="fcfs")
            ],
            "vllm_router": [running.vllm_router(engines=engines)],
        }
        results = asyncio.run(
            measure(targets, rate=args.rate, seconds=args.seconds, concurrency=args.concurrency)
        )
    document = {
        **results,
        "setup": {
            "engines": args.engines,
            "engine": f"sloserve engine-sim --profile {PROFILE} --time-scale 0",
            "request": BODY,
            "rate_rps": args.rate,
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "load_generator": "aiohttp, in one process on the same machine",
        },
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine_before": machine_before,
        "machine_after": stack.machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(
        json.dumps(
            {
                name: {k: results[name][k] for k in ("p50_ms", "p99_ms", "max_rps")}
                for name in results
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
