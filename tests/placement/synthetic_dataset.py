"""A small co-location dataset in the real schema (`sloserve.colocation-dataset/v1`), generated
from a known rule, for tests only. Nothing here was measured.

Each kind has an SM and a DRAM intensity; its solo series hover around them. The candidate's P
falls with the product of its intensities and its neighbours', more steeply under time-slicing.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import pathlib
import random
from typing import Any

METRICS = ("sm_util_pct", "mem_util_pct", "mem_used_gib", "power_w", "gpm_dram_bw_util_pct")
# kind -> (SM intensity, DRAM intensity), both in [0, 1]
INTENSITY: dict[str, tuple[float, float]] = {
    "decode_small": (0.35, 0.55),
    "decode_large": (0.75, 0.85),
    "prefill_short": (0.8, 0.3),
    "prefill_long": (0.95, 0.35),
    "decode_medium": (0.55, 0.7),
    "finetune": (0.7, 0.5),
    "idle": (0.0, 0.0),
}
HELDOUT = ("decode_medium",)


def true_p(kind: str, neighbours: list[str], mode: str) -> float:
    """The rule the synthetic labels follow."""
    sm, dram = INTENSITY[kind]
    pressure = sum(
        INTENSITY[n][0] * sm * (1.0 if mode == "timeslice" else 0.6) + INTENSITY[n][1] * dram * 0.5
        for n in neighbours
    )
    return 1.0 / (1.0 + pressure)


def _series(kind: str, rng: random.Random, samples: int) -> list[list[float | None]]:
    sm, dram = INTENSITY[kind]
    rows: list[list[float | None]] = []
    for step in range(samples):
        wave = 0.05 * math.sin(step / 3.0 + len(kind))
        rows.append(
            [
                round(100 * min(1.0, sm + wave + rng.gauss(0, 0.02)), 3),
                round(100 * min(1.0, dram * 0.8 + rng.gauss(0, 0.02)), 3),
                round(10 + 20 * dram, 3),
                round(80 + 500 * sm * (1 + wave), 3),
                None if step == 3 else round(100 * min(1.0, dram + rng.gauss(0, 0.02)), 3),
            ]
        )
    return rows


def document(*, seed: int = 1, samples: int = 40) -> dict[str, Any]:
    """The synthetic dataset as the collector's merge step would write it."""
    rng = random.Random(seed)
    active = sorted(kind for kind in INTENSITY if kind != "idle")
    passes: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for mode in ("timeslice", "mps"):
        solo = {
            kind: {"step_ms_mean": 10.0, "series": _series(kind, rng, samples)}
            for kind in INTENSITY
        }
        passes[mode] = {"metrics": list(METRICS), "solo": solo}
        combos = [
            *itertools.combinations_with_replacement(active, 2),
            *((kind, "idle") for kind in active),
            *itertools.combinations(active, 3),
        ]
        for number, combo in enumerate(combos):
            for position, kind in enumerate(combo):
                if kind == "idle":
                    continue
                others = sorted(combo[:position] + combo[position + 1 :])
                p = true_p(kind, [o for o in others if o != "idle"], mode)
                p *= 1.0 + rng.gauss(0, 0.01)
                rows.append(
                    {
                        "run_id": f"{mode}-{number:04d}",
                        "mode": mode,
                        "kind": kind,
                        "co_runners": others,
                        "slowdown": round(1 / p, 4),
                        "p_cloudformer": round(p, 4),
                    }
                )
    rows.append(
        {
            "run_id": "timeslice-9999",
            "mode": "timeslice",
            "kind": active[0],
            "co_runners": [active[1]],
            "slowdown": None,
            "p_cloudformer": None,
        }
    )
    kinds = {kind: {"family": kind.split("_")[0], "heldout": kind in HELDOUT} for kind in INTENSITY}
    return {
        "schema": "sloserve.colocation-dataset/v1",
        "device": {"name": "synthetic"},
        "kinds": kinds,
        "heldout_kinds": list(HELDOUT),
        "passes": passes,
        "rows": rows,
    }


def write(path: pathlib.Path, **options: Any) -> pathlib.Path:
    """Writes the synthetic dataset (gzip JSON) to `path` and returns it."""
    with gzip.open(path, "wt") as sink:
        json.dump(document(**options), sink)
    return path
