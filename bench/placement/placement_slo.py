"""SLO attainment of a model's engines under three placements, with co-location slowdowns taken
from the measured H100 dataset.

    python bench/placement/placement_slo.py --out bench/results/placement_slo.json

The cluster: eight GPU nodes, each one GPU shared by at most two workloads (time-slicing, or MPS
in the second scenario). Four nodes already run other tenants' work: a long-prompt batch prefill
job (prefill_8192), a LoRA fine-tuning job (lora_ft_1b), a prefill service (prefill_2048) and a
small-batch decode service (decode_b8_c1024); four are empty. Eight engines of a model
(decode_b32_c1024, the serving engines' stand-in) are placed one by one:

- spread: the node with the fewest workloads (ties broken at random);
- bin-pack: the node with the most workloads that still has room (ties at random);
- interference-aware: the extender's choice, the node with the best score (the predicted P of
  the most slowed engine on it), from the trained model and the catalogue, as in production.

Each engine's slowdown is then the one MEASURED for its kind beside its final co-runners under
that mode (the dataset row; alone: the row beside `idle`), and the engines serve a Poisson
workload in the discrete-event simulator (SCORPIO's classes, Azure trace lengths) with the
`scorpio-full` policy. Random placements run under several seeds; the row reports their mean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import platform
import random
import shlex
import statistics
import sys
from collections.abc import Callable
from typing import Any

from sloserve.engine import profiles
from sloserve.placement.assessor import Assessor
from sloserve.placement.catalogue import SoloCatalogue
from sloserve.placement.dataset import IDLE_KIND, ColocationDataset, load_dataset
from sloserve.placement.pod_listing import StaticPodLister
from sloserve.placement.predictor import InterferencePredictor
from sloserve.placement.scoring import NodeScorer
from sloserve.placement.sources import CatalogueSource
from sloserve.placement.workloads import KIND_ANNOTATION, SHARING_LABEL
from sloserve.sim import settings, simulator, workload

BACKGROUND = {
    "gpu-0": "prefill_8192",
    "gpu-1": "lora_ft_1b",
    "gpu-2": "prefill_2048",
    "gpu-3": "decode_b8_c1024",
    "gpu-4": None,
    "gpu-5": None,
    "gpu-6": None,
    "gpu-7": None,
}
ENGINE_KIND = "decode_b32_c1024"
ENGINES = 8
CAPACITY = 2
POLICY = "scorpio-full"

# node -> its workloads, as (kind, whether it is one of the model's engines)
Layout = dict[str, list[tuple[str, bool]]]


def _empty_layout() -> Layout:
    return {node: [(kind, False)] if kind else [] for node, kind in BACKGROUND.items()}


def _place_by_count(rng: random.Random, *, most: bool) -> Layout:
    layout = _empty_layout()
    for _ in range(ENGINES):
        open_nodes = [node for node, kinds in layout.items() if len(kinds) < CAPACITY]
        best = (max if most else min)(len(layout[node]) for node in open_nodes)
        tied = [node for node in open_nodes if len(layout[node]) == best]
        layout[rng.choice(tied)].append((ENGINE_KIND, True))
    return layout


def _pod(name: str, kind: str, node: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]}
    if node is not None:
        spec["nodeName"] = node
    return {
        "metadata": {
            "name": name,
            "namespace": "bench",
            "uid": name,
            "annotations": {KIND_ANNOTATION: kind},
        },
        "spec": spec,
    }


def _place_aware(scorer: NodeScorer, source: CatalogueSource, mode: str) -> Layout:
    layout = _empty_layout()
    label = {SHARING_LABEL: "mps" if mode == "mps" else "time-slicing"}
    for number in range(ENGINES):
        pods = [
            _pod(f"{node}-{index}", kind, node)
            for node, kinds in layout.items()
            for index, (kind, _) in enumerate(kinds)
        ]
        open_nodes = [node for node, kinds in layout.items() if len(kinds) < CAPACITY]
        nodes = [{"metadata": {"name": node, "labels": label}} for node in open_nodes]
        assessor = Assessor(scorer, source, StaticPodLister(pods))
        assessments = asyncio.run(
            assessor.assess(_pod(f"engine-{number}", ENGINE_KIND, None), nodes)
        )
        chosen = max(assessments, key=lambda a: (a.score(), -len(layout[a.node]), a.node))
        layout[chosen.node].append((ENGINE_KIND, True))
    return layout


def _measured(dataset: ColocationDataset) -> dict[tuple[str, str, tuple[str, ...]], float]:
    groups: dict[tuple[str, str, tuple[str, ...]], list[float]] = {}
    for row in dataset.rows:
        groups.setdefault((row.mode, row.kind, row.co_runners), []).append(1.0 / row.p)
    return {key: statistics.fmean(values) for key, values in groups.items()}


def _slowdowns(
    layout: Layout, mode: str, measured: dict[tuple[str, str, tuple[str, ...]], float]
) -> tuple[list[float], list[float]]:
    """(each engine's measured slowdown, each background workload's), from the final layout."""
    engines: list[float] = []
    background: list[float] = []
    for workloads in layout.values():
        kinds = [kind for kind, _ in workloads]
        for index, (kind, is_engine) in enumerate(workloads):
            others = tuple(sorted(kinds[:index] + kinds[index + 1 :])) or (IDLE_KIND,)
            (engines if is_engine else background).append(measured[(mode, kind, others)])
    return engines, background


def _simulate(
    slowdowns: list[float], *, requests: list[workload.WorkloadRequest]
) -> tuple[float, float]:
    config = settings.SimulationConfig(
        policy=POLICY,
        profile=profiles.resolve("h100-llama3-8b"),
        engines=len(slowdowns),
        slowdowns=tuple(slowdowns),
    )
    overall = simulator.simulate(requests, config).summary.overall
    return overall.adherence, overall.goodput_rps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="data/colocation/h100_colocation.json.gz")
    parser.add_argument("--rate", type=float, default=96.0, help="cluster request rate (req/s)")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=3, help="tie-break seeds of random placements")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    dataset = load_dataset(pathlib.Path(args.dataset))
    measured = _measured(dataset)
    predictor = InterferencePredictor.load()
    source = CatalogueSource(SoloCatalogue.load(), metrics=predictor.metrics, steps=predictor.steps)
    scorer = NodeScorer(predictor)
    requests = workload.build_workload(
        count=args.requests, rate_rps=args.rate, limits=workload.SCORPIO_LIMITS, seed=1
    )
    placements: dict[str, Callable[[str, int], Layout]] = {
        "spread": lambda mode, seed: _place_by_count(random.Random(seed), most=False),
        "bin-pack": lambda mode, seed: _place_by_count(random.Random(seed), most=True),
        "interference-aware": lambda mode, seed: _place_aware(scorer, source, mode),
    }
    rows = []
    for mode in ("timeslice", "mps"):
        for name, place in placements.items():
            seeds = [0] if name == "interference-aware" else list(range(args.seeds))
            runs: list[dict[str, Any]] = []
            for seed in seeds:
                layout = place(mode, seed)
                engines, background = _slowdowns(layout, mode, measured)
                attainment, goodput = _simulate(engines, requests=requests)
                shown = {node: [kind for kind, _ in kinds] for node, kinds in layout.items()}
                runs.append(
                    {
                        "seed": seed,
                        "layout": shown,
                        "engine_slowdowns": [round(v, 3) for v in engines],
                        "background_slowdowns": [round(v, 3) for v in background],
                        "attainment": round(attainment, 4),
                        "goodput_rps": round(goodput, 3),
                    }
                )
                print(f"{mode} {name} seed {seed}: attainment {attainment:.3f}", file=sys.stderr)
            rows.append(
                {
                    "placement": name,
                    "mode": mode,
                    "attainment": round(statistics.fmean(r["attainment"] for r in runs), 4),
                    "goodput_rps": round(statistics.fmean(r["goodput_rps"] for r in runs), 3),
                    "worst_engine_slowdown": round(
                        statistics.fmean(max(r["engine_slowdowns"]) for r in runs), 3
                    ),
                    "worst_background_slowdown": round(
                        statistics.fmean(max(r["background_slowdowns"]) for r in runs), 3
                    ),
                    "runs": runs,
                }
            )
    record = {
        "rows": rows,
        "scenario": {
            "background": BACKGROUND,
            "engine_kind": ENGINE_KIND,
            "engines": ENGINES,
            "workloads_per_gpu": CAPACITY,
            "policy": POLICY,
            "rate_rps": args.rate,
            "requests": args.requests,
            "profile": "h100-llama3-8b",
        },
        "slowdowns": "measured: each engine's dataset row for its final co-runners under the mode",
        "command": shlex.join(["python", *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
    }
    text = json.dumps(record, indent=1)
    if args.out:
        pathlib.Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
