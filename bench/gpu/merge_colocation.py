"""Merge co-location pass files (one per sharing mode) into the dataset, and summarise it.

    python bench/gpu/merge_colocation.py --out data/colocation/h200_colocation.json.gz \
        --summary bench/results/gpu_colocation_summary_h200.json PASS.json.gz [PASS.json.gz ...]

The dataset's schema is documented in docs/colocation-dataset.md. Passes of any mode name
(`timeslice`, `mps`, `mps_t50`, ...) merge, one pass per mode, all from one GPU product; the
product is recorded at the top (`gpu_product`) and on every row (`gpu`), so datasets of several
GPUs can be read together.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any

SCHEMA = "sloserve.colocation-dataset/v1"
PASS_SCHEMA = "sloserve.colocation-pass/v1"
PASS_FIELDS = (
    "command",
    "collected_at",
    "settings",
    "workers",
    "mps",
    "metrics",
    "metrics_rejected",
    "solo",
    "solo_recheck",
    "combos_not_run",
    "sharing",
    "plan",
)
# Co-locations FACTS.md quotes, so the summary can be set beside them.
HEADLINE_COMBOS: dict[str, tuple[str, ...]] = {
    "decode_b32_c1024 x2": ("decode_b32_c1024", "decode_b32_c1024"),
    "decode_b32_c1024 + prefill_2048": ("decode_b32_c1024", "prefill_2048"),
    "decode_b8_c1024 + decode_b128_c1024": ("decode_b128_c1024", "decode_b8_c1024"),
    "decode_b32_c1024 + lora_ft_1b": ("decode_b32_c1024", "lora_ft_1b"),
}


def merge(passes: list[dict[str, Any]], *, command: str) -> dict[str, Any]:
    """One dataset from pass files of distinct modes, all from the same device."""
    for document in passes:
        if document.get("schema") != PASS_SCHEMA:
            raise ValueError(f"not a co-location pass file (schema {document.get('schema')!r})")
    modes = [document["mode"] for document in passes]
    if len(set(modes)) != len(modes):
        raise ValueError(f"each mode may appear once; got {modes}")
    devices = {document["device"]["name"] for document in passes}
    if len(devices) != 1:
        raise ValueError(f"passes come from different devices: {sorted(devices)}")
    kinds: dict[str, Any] = {}
    for document in passes:
        kinds |= document["kinds"]
    product = passes[0]["device"]["name"]
    rows = [row | {"gpu": row.get("gpu") or product} for d in passes for row in d["rows"]]
    return {
        "schema": SCHEMA,
        "gpu_product": product,
        "device": passes[0]["device"],
        "torch": passes[0]["torch"],
        "merge_command": command,
        "label": {
            "slowdown": "co-located mean step time / solo mean step time (>= 1: slowed down)",
            "p_cloudformer": "solo mean step time / co-located mean step time, in (0, 1]",
        },
        "llm_model": {
            "shape": "llama-3-8b",
            "layers": passes[0]["settings"]["llm_layers"],
            "note": "reduced depth: several LLM workers fit on one GPU beside fine-tuning workers",
        },
        "kinds": kinds,
        "heldout_kinds": sorted(name for name, kind in kinds.items() if kind["heldout"]),
        "passes": {d["mode"]: {field: d.get(field) for field in PASS_FIELDS} for d in passes},
        "runs": [run | {"mode": d["mode"]} for d in passes for run in d["runs"]],
        "rows": rows,
    }


def summarise(dataset: dict[str, Any]) -> dict[str, Any]:
    """Row counts, slowdown spread per mode and co-runner count, and the headline pairs."""
    rows = [row for row in dataset["rows"] if row["slowdown"] is not None]
    summary: dict[str, Any] = {
        "command": dataset["merge_command"],
        "collect_commands": {mode: p["command"] for mode, p in dataset["passes"].items()},
        "device": dataset["device"],
        "rows": len(dataset["rows"]),
        "rows_missing": len(dataset["rows"]) - len(rows),
        "heldout_kinds": dataset["heldout_kinds"],
        "by_mode": {},
        "headline": {},
        "solo_step_ms": {
            mode: {kind: solo.get("step_ms_mean") for kind, solo in details["solo"].items()}
            for mode, details in dataset["passes"].items()
        },
    }
    for mode in dataset["passes"]:
        for size in (1, 2, 3):
            chosen = [
                row["slowdown"]
                for row in rows
                if row["mode"] == mode
                and len([k for k in row["co_runners"] if k != "idle"]) == size
            ]
            if chosen:
                summary["by_mode"][f"{mode}/{size + 1}-way"] = _spread(chosen)
        for label, combo in HEADLINE_COMBOS.items():
            summary["headline"][f"{mode}: {label}"] = _combo_slowdowns(rows, mode, combo)
    return summary


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "min": round(ordered[0], 3),
        "median": round(statistics.median(ordered), 3),
        "max": round(ordered[-1], 3),
    }


def _combo_slowdowns(
    rows: list[dict[str, Any]], mode: str, combo: tuple[str, ...]
) -> dict[str, float]:
    found: dict[str, float] = {}
    for row in rows:
        if row["mode"] == mode and tuple(sorted([row["kind"], *row["co_runners"]])) == combo:
            found[row["kind"] if row["kind"] not in found else f"{row['kind']}#2"] = row["slowdown"]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("passes", nargs="+", help="pass files written by collect_colocation.py")
    parser.add_argument("--out", required=True, help="dataset to write (.json.gz)")
    parser.add_argument("--summary", default="", help="summary JSON to write (optional)")
    args = parser.parse_args(argv)
    passes = []
    for path in args.passes:
        with gzip.open(path, "rt") as source:
            passes.append(json.load(source))
    dataset = merge(passes, command=shlex.join(["python", *sys.argv]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt") as sink:
        json.dump(dataset, sink, separators=(",", ":"))
    summary = summarise(dataset)
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
