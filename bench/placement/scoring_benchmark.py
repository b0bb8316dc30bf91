"""How long scoring one node takes: the extender's work per candidate node, on this CPU.

    python bench/placement/scoring_benchmark.py --out bench/results/placement_scoring.json

Each round scores 64 nodes for a new engine, through the same path as `POST /filter`
(`Assessor.assess`: workload kinds from pod annotations, catalogue series, feature rows, one
onnxruntime call for all nodes), with pods listed from memory rather than the API server
(listing is one call per request, not per node). Nodes hold 0, 1, 2 or 3 GPU workloads of
assorted measured kinds; half are H100 nodes, half H200. The predictor is the packaged one
(the tree model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import statistics
import sys
import time
from typing import Any

from sloserve.placement.assessor import Assessor
from sloserve.placement.catalogue import SoloCatalogue
from sloserve.placement.gpus import GPU_PRODUCT_LABEL
from sloserve.placement.pod_listing import StaticPodLister
from sloserve.placement.predictors import load_predictor
from sloserve.placement.scoring import NodeScorer
from sloserve.placement.sources import CatalogueSource
from sloserve.placement.workloads import KIND_ANNOTATION

NODES = 64
KINDS = ("decode_b32_c1024", "prefill_2048", "lora_ft_1b", "decode_b128_c1024", "prefill_8192")


def _pod(name: str, kind: str, node: str | None) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": "bench",
            "uid": name,
            "annotations": {KIND_ANNOTATION: kind},
        },
        "spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
    }
    if node is not None:
        pod["spec"]["nodeName"] = node
    return pod


def _cluster() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes, pods = [], []
    for index in range(NODES):
        name = f"gpu-{index:02d}"
        # Half the nodes H100, half H200: the GPU product is one of the model's features.
        product = "NVIDIA-H200" if (index // 4) % 2 else "NVIDIA-H100-80GB-HBM3"
        nodes.append({"metadata": {"name": name, "labels": {GPU_PRODUCT_LABEL: product}}})
        for slot in range(index % 4):
            pods.append(_pod(f"w-{index}-{slot}", KINDS[(index + slot) % len(KINDS)], name))
    return nodes, pods


async def _measure(assessor: Assessor, rounds: int) -> list[float]:
    nodes, _ = _cluster()
    candidate = _pod("new-engine", "decode_b32_c1024", None)
    await assessor.assess(candidate, nodes)
    per_node_ms = []
    for _ in range(rounds):
        started = time.perf_counter()
        await assessor.assess(candidate, nodes)
        per_node_ms.append((time.perf_counter() - started) * 1000 / len(nodes))
    return per_node_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    predictor = load_predictor()
    source = CatalogueSource(SoloCatalogue.load(), metrics=predictor.metrics, steps=predictor.steps)
    _, pods = _cluster()
    assessor = Assessor(NodeScorer(predictor), source, StaticPodLister(pods))
    samples = asyncio.run(_measure(assessor, args.rounds))
    record = {
        "ms_per_node": round(statistics.median(samples), 4),
        "ms_per_node_mean": round(statistics.fmean(samples), 4),
        "ms_per_node_max_round": round(max(samples), 4),
        "target_ms_per_node": 2.0,
        "nodes_per_round": NODES,
        "rounds": args.rounds,
        "residents_per_node": "0 to 3 (a quarter of the nodes each)",
        "what": "Assessor.assess per node: series lookup, feature rows (the new engine, each "
        "resident after it joins, and with two residents or more each resident before), one "
        "onnxruntime call for all nodes",
        "predictor": predictor.metadata.get("model", "dual-branch network"),
        "command": shlex.join(["python", *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}; "
        f"load average at start {os.getloadavg()[0]:.2f}",
    }
    text = json.dumps(record, indent=1)
    if args.out:
        with open(args.out, "w") as sink:
            sink.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
