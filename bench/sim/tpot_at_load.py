"""Per-class attainment of `scorpio-full` on two H200 Llama-3-8B engines as the load rises.

Shows whether the prefill meter keeps the tightest TPOT class (standard, 30 ms) on target once
every step carries prompt chunks, and that the excess is rejected rather than served late
(docs/scheduling.md, prefill metering): Azure conversation lengths clamped to SCORPIO's limits,
SCORPIO's three classes, 2,000 Poisson arrivals per rate, seed 3.

    python bench/sim/tpot_at_load.py --rates 30,40,50,60,70,80 --out bench/results/tpot_at_load.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from sloserve.engine import profiles
from sloserve.sim import settings, simulator, workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="30,40,50,60", help="arrival rates, req/s")
    parser.add_argument("--out", type=Path, default=Path("bench/results/tpot_at_load.json"))
    args = parser.parse_args()
    rows = []
    for rate in (float(text) for text in args.rates.split(",")):
        requests = workload.build_workload(
            count=2000, rate_rps=rate, limits=workload.SCORPIO_LIMITS, seed=3
        )
        config = settings.SimulationConfig(
            policy="scorpio-full", profile=profiles.resolve("h200-llama3-8b"), engines=2
        )
        summary = simulator.simulate(requests, config).summary
        rows.append(
            {
                "rate_rps": rate,
                "classes": {
                    name: {
                        "attainment": round(group.adherence, 4),
                        "rejected": group.rejected,
                        "tpot_p99_ms": round(group.tpot_p99_s * 1000, 2),
                    }
                    for name, group in sorted(summary.by_class.items())
                },
            }
        )
        print(rate, {name: row["attainment"] for name, row in rows[-1]["classes"].items()})
    document = {
        "benchmark": "tpot_at_load",
        "setup": "2 engines, profile h200-llama3-8b, policy scorpio-full, SCORPIO's classes",
        "rows": rows,
        "command": shlex.join(["python", *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "measured_at": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
