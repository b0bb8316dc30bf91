"""Where a proxy spends a streamed request's critical path, read off its system calls.

Runs two zero-latency engine simulators and one proxy, sends streamed completions at a fixed rate
with the Go load generator, and traces the proxy with `strace -ttt` (reads and writes only). For
each request it takes the time from reading the client's request to writing it to an engine
("in"), and from reading the engine's first answer bytes to writing the client's response head
("out"), and reports the medians. strace slows every system call, so absolute times are inflated;
compare proxies measured the same way.

    python bench/gateway/critical_path.py --proxy sloserve
    python bench/gateway/critical_path.py --proxy trivial-aiohttp
    python bench/gateway/critical_path.py --proxy trivial-raw

Each run adds its proxy's figures to `--output` (bench/results/gateway_critical_path.json).

Needs `strace` (Debian package strace) and the Go toolchain.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import overhead
import stack

RESULTS = Path(__file__).resolve().parents[1] / "results" / "gateway_critical_path.json"
_SYSCALL = re.compile(r"(\d+\.\d+) (read|write)\(\d+, \"(.{0,12})")


def start_proxy(running: stack.Stack, proxy: str, engines: list[str]) -> str:
    if proxy in ("sloserve", "sloserve-fcfs"):
        policy = "scorpio" if proxy == "sloserve" else "fcfs"
        return running.sloserve(
            model=overhead.MODEL, profile=overhead.PROFILE, engines=engines, policy=policy
        )
    port = stack.free_port()
    app = {"trivial-aiohttp": "aiohttp_app", "trivial-raw": "raw_app"}[proxy]
    os.environ["ENGINES"] = ",".join(engines)
    running.start(
        [
            stack.venv_tool("uvicorn"),
            "--app-dir",
            str(Path(__file__).resolve().parent),
            f"trivial_proxies:{app}",
            f"--port={port}",
            "--log-level=warning",
            "--no-access-log",
        ],
        ready_url=f"http://127.0.0.1:{port}/health",
    )
    return f"http://127.0.0.1:{port}"


def critical_path(trace: Path) -> dict[str, float | int]:
    calls = []
    for line in trace.read_text().splitlines():
        match = _SYSCALL.match(line)
        if match:
            calls.append((float(match.group(1)), match.group(2), match.group(3)))
    inbound, outbound = [], []
    for index, (at, call, start) in enumerate(calls):
        if call == "read" and start.startswith("POST /v1"):
            for later_at, later_call, later_start in calls[index + 1 : index + 4]:
                if later_call == "write" and later_start.startswith("POST /v1"):
                    inbound.append((later_at - at) * 1e6)
                    break
        if call == "write" and start.startswith("HTTP/1.1 200") and index > 0:
            before_at, before_call, _ = calls[index - 1]
            if before_call == "read":
                outbound.append((at - before_at) * 1e6)
    return {
        "in_median_us": statistics.median(inbound),
        "out_median_us": statistics.median(outbound),
        "requests": len(inbound),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--proxy",
        choices=["sloserve", "sloserve-fcfs", "trivial-aiohttp", "trivial-raw"],
        default="sloserve",
    )
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sloserve-critical-path-") as scratch:
        body = Path(scratch) / "body.json"
        body.write_text(json.dumps(overhead.BODY))
        fixed, _ = overhead.go_load_generator(overhead.build_loadgen(Path(scratch)), body)
        trace = Path(scratch) / "strace.txt"
        with stack.stack() as running:
            engines = [
                running.engine(model=overhead.MODEL, profile=overhead.PROFILE, time_scale=0.0)
                for _ in range(2)
            ]
            url = start_proxy(running, args.proxy, engines)
            proxy_pid = running.processes[-1].pid
            fixed([url], args.rate, 1.0)  # warm up: connections open, code loaded
            tracer = subprocess.Popen(
                [
                    "strace",
                    "-ttt",
                    "-p",
                    str(proxy_pid),
                    "-e",
                    "trace=read,write",
                    "-o",
                    str(trace),
                ],
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
            fixed([url], args.rate, args.seconds)
            tracer.terminate()
            tracer.wait()
        result = {
            **critical_path(trace),
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "machine": stack.machine(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    document = json.loads(args.output.read_text()) if args.output.exists() else {"proxies": {}}
    document["proxies"][args.proxy] = result
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps({args.proxy: result}, indent=2))


if __name__ == "__main__":
    main()
