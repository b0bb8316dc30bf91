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
import itertools
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
from sloserve.placement.gpus import GPU_PRODUCT_LABEL
from sloserve.placement.pod_listing import StaticPodLister
from sloserve.placement.predictors import load_predictor
from sloserve.placement.scoring import NodeScorer
from sloserve.placement.sources import CatalogueSource
from sloserve.placement.workloads import KIND_ANNOTATION, MAX_SLOWDOWN_ANNOTATION, SHARING_LABEL
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
#: The other tenants' own limits on their slowdown: the two services declare one, the two batch
#: jobs none (they are then held to the new engine's limit, the cautious reading).
BACKGROUND_LIMITS = {"prefill_2048": "1.5", "decode_b8_c1024": "1.5"}
ENGINE_KIND = "decode_b32_c1024"
#: The model's engines' `maxPredictedSlowdown`: a step at most twice as slow as alone.
ENGINE_LIMIT = "2.0"
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


def _pod(name: str, kind: str, node: str | None, limit: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]}
    if node is not None:
        spec["nodeName"] = node
    annotations = {KIND_ANNOTATION: kind}
    if limit is not None:
        annotations[MAX_SLOWDOWN_ANNOTATION] = limit
    return {
        "metadata": {"name": name, "namespace": "bench", "uid": name, "annotations": annotations},
        "spec": spec,
    }


def _place_aware(scorer: NodeScorer, source: CatalogueSource, mode: str, *, limits: bool) -> Layout:
    """The extender's filter (with `limits`: every engine's and tenant's own limit) and then
    its score; an engine every node refuses stays Pending (it is left out of the layout)."""
    layout = _empty_layout()
    engine_limit = float(ENGINE_LIMIT) if limits else None
    label = {
        SHARING_LABEL: "mps" if mode == "mps" else "time-slicing",
        GPU_PRODUCT_LABEL: "NVIDIA-H100-80GB-HBM3",
    }
    for number in range(ENGINES):
        pods = [
            _pod(f"{node}-{index}", kind, node, _limit_of(kind, engine, limits))
            for node, kinds in layout.items()
            for index, (kind, engine) in enumerate(kinds)
        ]
        open_nodes = [node for node, kinds in layout.items() if len(kinds) < CAPACITY]
        nodes = [{"metadata": {"name": node, "labels": label}} for node in open_nodes]
        assessor = Assessor(scorer, source, StaticPodLister(pods))
        pod = _pod(f"engine-{number}", ENGINE_KIND, None, ENGINE_LIMIT if limits else None)
        assessments = asyncio.run(assessor.assess(pod, nodes))
        passing = [a for a in assessments if not a.exceeds(engine_limit)]
        if not passing:
            continue  # Pending: every node would break an objective
        chosen = max(passing, key=lambda a: (a.score(), -len(layout[a.node]), a.node))
        layout[chosen.node].append((ENGINE_KIND, True))
    return layout


def _limit_of(kind: str, engine: bool, limits: bool) -> str | None:
    if not limits:
        return None
    return ENGINE_LIMIT if engine else BACKGROUND_LIMITS.get(kind)


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
    parser.add_argument(
        "--rate",
        type=float,
        action="append",
        default=None,
        help="cluster request rate in req/s (repeat; default 96, 144 and 192)",
    )
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=3, help="tie-break seeds of random placements")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    dataset = load_dataset(pathlib.Path(args.dataset))
    measured = _measured(dataset)
    predictor = load_predictor()
    source = CatalogueSource(SoloCatalogue.load(), metrics=predictor.metrics, steps=predictor.steps)
    scorer = NodeScorer(predictor)
    rates = args.rate or [96.0, 144.0, 192.0]
    placements: dict[str, Callable[[str, int], Layout]] = {
        "spread": lambda mode, seed: _place_by_count(random.Random(seed), most=False),
        "bin-pack": lambda mode, seed: _place_by_count(random.Random(seed), most=True),
        "interference-aware": lambda mode, seed: _place_aware(scorer, source, mode, limits=True),
        "interference-aware, no limits": lambda mode, seed: _place_aware(
            scorer, source, mode, limits=False
        ),
    }
    rows = []
    layouts: dict[tuple[str, str, int], Layout] = {}
    for rate, mode in itertools.product(rates, ("timeslice", "mps")):
        requests = workload.build_workload(
            count=args.requests, rate_rps=rate, limits=workload.SCORPIO_LIMITS, seed=1
        )
        for name, place in placements.items():
            deterministic = name.startswith("interference-aware")
            seeds = [0] if deterministic else list(range(args.seeds))
            runs: list[dict[str, Any]] = []
            for seed in seeds:
                # A placement does not depend on the rate: place once per mode and seed.
                layout = layouts.setdefault((mode, name, seed), place(mode, seed))
                engines, background = _slowdowns(layout, mode, measured)
                attainment, goodput = _simulate(engines, requests=requests)
                shown = {node: [kind for kind, _ in kinds] for node, kinds in layout.items()}
                runs.append(
                    {
                        "seed": seed,
                        "layout": shown,
                        "engines_placed": len(engines),
                        "gpus_used": sum(
                            any(engine for _, engine in kinds) for kinds in layout.values()
                        ),
                        "engine_slowdowns": [round(v, 3) for v in engines],
                        "background_slowdowns": [round(v, 3) for v in background],
                        "attainment": round(attainment, 4),
                        "goodput_rps": round(goodput, 3),
                    }
                )
                print(
                    f"{rate:g} req/s {mode} {name} seed {seed}: attainment {attainment:.3f} "
                    f"goodput {goodput:.1f}",
                    file=sys.stderr,
                )
            rows.append(
                {
                    "placement": name,
                    "mode": mode,
                    "rate_rps": rate,
                    "engines_placed": statistics.fmean(r["engines_placed"] for r in runs),
                    "gpus_used": statistics.fmean(r["gpus_used"] for r in runs),
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
            "rates_rps": rates,
            "requests": args.requests,
            "engine_limit": ENGINE_LIMIT,
            "background_limits": BACKGROUND_LIMITS,
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
