"""The gateway's CPU time per request, against the gateway of another commit and vllm-router.

A closed loop's rate on a shared machine follows how much CPU the proxy was given; the CPU time
(user + system, from /proc) the proxy spends per completed request moves much less with the
machine's load, so two versions of the gateway can be compared on a busy machine. Both gateways
(this checkout's and `--baseline`'s sources, extracted with `git archive`) and vllm-router run
side by side in front of the same two zero-latency engine simulators; each is driven by
bench/gateway/loadgen in turn, `--rounds` times, and the medians are reported.

The baseline runs with this checkout's compiled modules (mypyc), so its engine, scheduling and
sim sources must be the same as this checkout's; the script refuses otherwise.

    python bench/gateway/cpu_per_request.py --baseline 30d2bbc
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import overhead
import stack

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "gateway_cpu_per_request.json"
COMPILED_SOURCES = ["src/sloserve/engine", "src/sloserve/scheduling", "src/sloserve/sim"]


def extract_baseline(commit: str, directory: Path) -> Path:
    """The baseline's `src` tree, with this checkout's compiled modules beside its sources."""
    changed = subprocess.run(
        ["git", "diff", "--quiet", commit, "HEAD", "--", *COMPILED_SOURCES], cwd=ROOT
    )
    if changed.returncode != 0:
        raise SystemExit(
            f"{commit} differs from HEAD in {', '.join(COMPILED_SOURCES)}: its gateway cannot "
            "run with this checkout's compiled modules"
        )
    archive = subprocess.run(
        ["git", "archive", commit, "src"], cwd=ROOT, check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    for compiled in (ROOT / "src").rglob("*.so"):
        target = directory / compiled.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(compiled, target)
    return directory / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="commit whose gateway is compared")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    machine_before = stack.machine()
    with tempfile.TemporaryDirectory(prefix="sloserve-cpu-") as scratch:
        baseline_src = extract_baseline(args.baseline, Path(scratch))
        body_file = Path(scratch) / "body.json"
        body_file.write_text(json.dumps(overhead.BODY))
        _, closed = overhead.go_load_generator(overhead.build_loadgen(Path(scratch)), body_file)
        with stack.stack() as running:
            engines = [
                running.engine(model=overhead.MODEL, profile=overhead.PROFILE, time_scale=0.0)
                for _ in range(2)
            ]
            urls: dict[str, str] = {}
            pids: dict[str, int] = {}
            for name, pythonpath in (("sloserve", None), ("baseline", str(baseline_src))):
                if pythonpath is not None:
                    os.environ["PYTHONPATH"] = pythonpath
                try:
                    urls[name] = running.sloserve(
                        model=overhead.MODEL,
                        profile=overhead.PROFILE,
                        engines=engines,
                        policy="scorpio",
                    )
                finally:
                    os.environ.pop("PYTHONPATH", None)
                pids[name] = running.pids()[-1]
            urls["vllm_router"] = running.vllm_router(engines=engines)
            pids["vllm_router"] = running.pids()[-1]
            for url in urls.values():  # warm connections and caches
                closed([url], args.concurrency, 2.0)
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in urls}
            for _ in range(args.rounds):
                for name, url in urls.items():
                    before = overhead.cpu_seconds(pids[name])
                    loop = closed([url], args.concurrency, args.seconds)
                    spent_ms = (overhead.cpu_seconds(pids[name]) - before) * 1000.0
                    loop["proxy_cpu_ms_per_request"] = spent_ms / max(loop["completed"], 1)
                    loop["load_average_1m"] = round(os.getloadavg()[0], 2)
                    rounds[name].append(loop)
    document = {
        name: {
            "proxy_cpu_ms_per_request": statistics.median(
                r["proxy_cpu_ms_per_request"] for r in measured
            ),
            "max_rps": statistics.median(r["max_rps"] for r in measured),
            "rounds": measured,
        }
        for name, measured in rounds.items()
    }
    document["setup"] = {
        "baseline": subprocess.run(
            ["git", "rev-parse", args.baseline], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "head": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "engines": 2,
        "engine": f"sloserve engine-sim --profile {overhead.PROFILE} --time-scale 0",
        "request": overhead.BODY,
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "load_generator": "bench/gateway/loadgen (Go net/http), a separate process",
    }
    document["command"] = shlex.join([Path(sys.executable).name, *sys.argv])
    document["machine_before"] = machine_before
    document["machine_after"] = stack.machine()
    document["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(
        json.dumps(
            {
                name: {k: document[name][k] for k in ("proxy_cpu_ms_per_request", "max_rps")}
                for name in rounds
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
