"""Print the Markdown tables of docs/simulator.md from the committed results files.

    python bench/sim/results_table.py [--scorpio bench/results/scorpio_repro.json] \
        [--speed bench/results/sim_speed.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

POLICIES = ("fcfs", "priority", "deadline", "scorpio-gateway", "scorpio-full")


def main() -> None:
    parser = argparse.ArgumentParser(description="Markdown tables from the simulator's results")
    parser.add_argument("--scorpio", type=Path, default=Path("bench/results/scorpio_repro.json"))
    parser.add_argument("--speed", type=Path, default=Path("bench/results/sim_speed.json"))
    args = parser.parse_args()
    scorpio = json.loads(args.scorpio.read_text())
    groups = dict.fromkeys((row["engine_config"], row["scenario"]) for row in scorpio["rows"])
    for engine_config, scenario in groups:
        rows = [
            row
            for row in scorpio["rows"]
            if (row["engine_config"], row["scenario"]) == (engine_config, scenario)
        ]
        engines = rows[0]["engines"]
        print(
            f"\n**{scenario}, {engine_config}, {engines} engine(s)**: goodput req/s / adherence\n"
        )
        print(_table(rows))
    if args.speed.exists():
        speed = json.loads(args.speed.read_text())
        print(
            f"\nSimulated requests per wall-clock second: {speed['simulated_requests_per_s']} "
            f"over SCORPIO's setup and cluster scale ({speed['simulated_requests_per_cpu_s']} per "
            f"CPU second); by scenario: {speed['by_scenario']}; slowest run: "
            f"{speed['slowest_run_requests_per_s']}; build: {speed.get('build', 'not recorded')}"
        )


def _table(rows: list[dict[str, Any]]) -> str:
    by_point: dict[tuple[float, int], dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_point.setdefault((row["qps"], row["requests"]), {})[row["policy"]] = row
    lines = [
        "| QPS (requests) | " + " | ".join(POLICIES) + " |",
        "| ---: | " + " | ".join("---:" for _ in POLICIES) + " |",
    ]
    for (qps, requests), cells in sorted(by_point.items()):
        values = [
            f"{cells[name]['goodput_rps']:.2f} / {cells[name]['adherence']:.3f}"
            if name in cells
            else "-"
            for name in POLICIES
        ]
        lines.append(f"| {qps:g} ({requests}) | " + " | ".join(values) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
