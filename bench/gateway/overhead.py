"""What the gateway adds: latency at a fixed rate, and the most requests per second it carries.

Side by side in one run, with the same engine simulators at zero latency (`--time-scale 0`):
`direct` (the load generator round-robins over the engines itself), `sloserve` (the gateway,
scorpio policy), `sloserve_fcfs` (the gateway forwarding at once, no holding: its cost alone) and
`vllm_router` (round-robin). Each request is a streamed completion of a 16-token prompt (token ids)
and 8 output tokens; latency is to the end of the stream.

1. Added latency: requests at a constant 100 req/s for `--seconds`; p50 and p99 of each target
   minus those of `direct` measured just before it in the same round.
2. Maximum rate: a closed loop of `--concurrency` clients for `--seconds`; completed requests per
   second, and the proxy process's CPU time (user + system) per completed request in that loop,
   read from /proc. On a machine shared with other work the rate follows how much CPU the proxy
   was given; its CPU time per request moves much less.

Every target is measured `--rounds` times, interleaved, and the medians are reported: on a small
machine shared with other work a single run can be off by half a millisecond either way.

The load generator shares the machine's cores with everything it measures. The default one is
`bench/gateway/loadgen` (Go, built here with the Go toolchain): compiled, its own CPU time and
cache footprint disturb the servers less than a Python client's. `--load-generators go,python`
also runs the same rounds with an aiohttp client in this process, reported under
`python_load_generator`.

    python bench/gateway/overhead.py            # writes bench/results/gateway_overhead.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import stack

MODEL = "bench-model"
PROFILE = "synthetic"
RESULTS = Path(__file__).resolve().parents[1] / "results" / "gateway_overhead.json"
LOADGEN_SOURCE = Path(__file__).resolve().parent / "loadgen"
BODY = {
    "model": MODEL,
    "prompt": list(range(1, 17)),
    "max_tokens": 8,
    "ignore_eos": True,
    "stream": True,
}

FixedRate = Callable[[list[str], float, float], dict[str, Any]]
ClosedLoop = Callable[[list[str], int, float], dict[str, Any]]


# The Go load generator.


def build_loadgen(directory: Path) -> Path:
    """Compile bench/gateway/loadgen into `directory`."""
    if shutil.which("go") is None:
        raise SystemExit(
            "the Go toolchain (go) is needed to build the load generator; install it, or run "
            "with --load-generators python"
        )
    binary = directory / "loadgen"
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=LOADGEN_SOURCE,
        check=True,
        env={**os.environ, "CGO_ENABLED": "0"},
    )
    return binary


def go_load_generator(binary: Path, body_file: Path) -> tuple[FixedRate, ClosedLoop]:
    def run(arguments: list[str], urls: list[str]) -> dict[str, Any]:
        completed = subprocess.run(
            [str(binary), "-body", str(body_file), "-api-key", stack.BENCH_KEY, *arguments, *urls],
            capture_output=True,
            text=True,
            check=True,
        )
        result: dict[str, Any] = json.loads(completed.stdout)
        return result

    def fixed(urls: list[str], rate: float, seconds: float) -> dict[str, Any]:
        return run(["-mode", "fixed", "-rate", str(rate), "-seconds", str(seconds)], urls)

    def closed(urls: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
        return run(
            ["-mode", "closed", "-concurrency", str(concurrency), "-seconds", str(seconds)], urls
        )

    return fixed, closed


# The Python (aiohttp) load generator.


async def _one_request(session: aiohttp.ClientSession, url: str) -> float:
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


async def _fixed_rate(urls: list[str], rate: float, seconds: float) -> dict[str, Any]:
    targets = itertools.cycle(urls)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def send(url: str) -> None:
            nonlocal errors
            try:
                latencies.append(await _one_request(session, url) * 1000.0)
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


async def _closed_loop(urls: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    targets = itertools.cycle(urls)
    completed = 0
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal completed, errors
            while time.perf_counter() < deadline:
                try:
                    await _one_request(session, next(targets))
                    completed += 1
                except (aiohttp.ClientError, RuntimeError):
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"max_rps": completed / elapsed, "completed": completed, "errors": errors}


def python_load_generator() -> tuple[FixedRate, ClosedLoop]:
    def fixed(urls: list[str], rate: float, seconds: float) -> dict[str, Any]:
        return asyncio.run(_fixed_rate(urls, rate, seconds))

    def closed(urls: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
        return asyncio.run(_closed_loop(urls, concurrency, seconds))

    return fixed, closed


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


# Rounds and the summary.


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    targets: dict[str, list[str]],
    proxies: dict[str, int],
    generator: tuple[FixedRate, ClosedLoop],
    *,
    rate: float,
    seconds: float,
    concurrency: int,
    rounds: int,
) -> dict[str, Any]:
    fixed, closed = generator
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for _ in range(rounds):
        direct = fixed(targets["direct"], rate, seconds)
        for name, urls in targets.items():
            at_rate = direct if name == "direct" else fixed(urls, rate, seconds)
            pid = proxies.get(name)
            cpu_before = cpu_seconds(pid) if pid is not None else 0.0
            loop = closed(urls, concurrency, seconds)
            if pid is not None and loop["completed"]:
                loop["proxy_cpu_ms_per_request"] = (
                    (cpu_seconds(pid) - cpu_before) * 1000.0 / loop["completed"]
                )
            runs[name].append(
                {
                    "added_p50_ms": _minus(at_rate["p50_ms"], direct["p50_ms"]),
                    "added_p99_ms": _minus(at_rate["p99_ms"], direct["p99_ms"]),
                    "latency_at_rate": at_rate,
                    "closed_loop": loop,
                }
            )
    results: dict[str, Any] = {}
    for name, measured in runs.items():
        results[name] = {
            "p50_ms": 0.0 if name == "direct" else _median(r["added_p50_ms"] for r in measured),
            "p99_ms": 0.0 if name == "direct" else _median(r["added_p99_ms"] for r in measured),
            "max_rps": _median(r["closed_loop"]["max_rps"] for r in measured),
            "proxy_cpu_ms_per_request": _median(
                r["closed_loop"].get("proxy_cpu_ms_per_request") for r in measured
            ),
            "errors": sum(
                r["latency_at_rate"]["errors"] + r["closed_loop"]["errors"] for r in measured
            ),
            "rounds": measured,
        }
    return results


def _minus(value: float | None, baseline: float | None) -> float | None:
    return None if value is None or baseline is None else value - baseline


def _median(values: Any) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--load-generators",
        default="go",
        help="comma-separated: go (the first is the headline), python",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    generators = [name.strip() for name in args.load_generators.split(",") if name.strip()]
    unknown = set(generators) - {"go", "python"}
    if not generators or unknown:
        parser.error(f"--load-generators takes go and/or python, not {sorted(unknown)}")
    machine_before = stack.machine()
    with tempfile.TemporaryDirectory(prefix="sloserve-loadgen-") as scratch:
        body_file = Path(scratch) / "body.json"
        body_file.write_text(json.dumps(BODY))
        loadgens = {
            "go": lambda: go_load_generator(build_loadgen(Path(scratch)), body_file),
            "python": python_load_generator,
        }
        with stack.stack() as running:
            engines = [
                running.engine(model=MODEL, profile=PROFILE, time_scale=0.0)
                for _ in range(args.engines)
            ]
            targets = {
                "direct": engines,
                "sloserve": [
                    running.sloserve(
                        model=MODEL, profile=PROFILE, engines=engines, policy="scorpio"
                    )
                ],
                "sloserve_fcfs": [
                    running.sloserve(model=MODEL, profile=PROFILE, engines=engines, policy="fcfs")
                ],
                "vllm_router": [running.vllm_router(engines=engines)],
            }
            # Each proxy is the process started last for it.
            proxies = dict(zip(list(targets)[1:], running.pids()[args.engines :], strict=True))
            by_generator = {
                name: measure(
                    targets,
                    proxies,
                    loadgens[name](),
                    rate=args.rate,
                    seconds=args.seconds,
                    concurrency=args.concurrency,
                    rounds=args.rounds,
                )
                for name in generators
            }
    headline = by_generator[generators[0]]
    document = {
        **headline,
        "load_generator": generators[0],
        **(
            {"python_load_generator": by_generator["python"]}
            if "python" in by_generator and generators[0] != "python"
            else {}
        ),
        "setup": {
            "engines": args.engines,
            "engine": f"sloserve engine-sim --profile {PROFILE} --time-scale 0",
            "request": BODY,
            "rate_rps": args.rate,
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "load_generators": {
                "go": "bench/gateway/loadgen (Go net/http), a separate process",
                "python": "aiohttp, in the benchmark's process",
            },
        },
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine_before": machine_before,
        "machine_after": stack.machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    summary = {
        generator: {
            name: {
                key: results[name][key]
                for key in ("p50_ms", "p99_ms", "max_rps", "proxy_cpu_ms_per_request", "errors")
            }
            for name in results
        }
        for generator, results in by_generator.items()
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
