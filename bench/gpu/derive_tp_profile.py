"""Derive a tensor-parallel latency profile from a measured single-GPU one (labelled derived).

    python bench/gpu/derive_tp_profile.py --profile src/sloserve/profiles/h200-llama3-8b.json \
        --tp 2 --out src/sloserve/profiles/h200-llama3-8b-tp2.json

Only one GPU was at hand, so tensor-parallel profiles are computed, not measured. The rule, per
step of the measured profile (prefill, decode and mixed points alike):

    T_tp = F + (T_1 − F) / tp + 2 · layers · allreduce(tokens · hidden · 2 bytes)

- F is the measured kernel floor of the step: the same number of layers at a width too small to
  cost anything (`kernel_floor_ms` in the measured profile's provenance). Launch latency does not
  shrink when the layers are split; everything else (matrix products, attention, weight and KV
  reads) is divided evenly across the tp GPUs by Megatron-style sharding (heads and MLP columns).
- Each layer all-reduces its attention output and its MLP output over the step's tokens. A ring
  all-reduce of n bytes takes α + 2(tp − 1)/tp · n / B. α (per-call latency) and B (bus bandwidth)
  are assumptions, not measurements: α = 8 µs and B = 360 GB/s, typical of NCCL on NVLink 4
  (H100/H200 SXM) for the message sizes of a decode step.
- The CPU overhead per step is the measured one, unchanged (one scheduler drives all ranks).
- KV cache bytes per token and weight bytes are per GPU: divided by tp (KV heads are replicated
  when tp exceeds their number).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import shlex
import sys
from pathlib import Path
from typing import Any

ALLREDUCE_LATENCY_S = 8e-6
ALLREDUCE_BUS_BYTES_PER_S = 360e9
BF16_BYTES = 2


def allreduce_ms(tokens: int, hidden: int, tp: int) -> float:
    message = tokens * hidden * BF16_BYTES
    seconds = ALLREDUCE_LATENCY_S + 2 * (tp - 1) / tp * message / ALLREDUCE_BUS_BYTES_PER_S
    return seconds * 1e3


def derive(profile: dict[str, Any], *, tp: int, name: str) -> dict[str, Any]:
    if tp < 2:
        raise ValueError(f"--tp must be at least 2, got {tp}")
    model = profile["model"]
    if model["heads"] % tp or model["intermediate"] % tp:
        raise ValueError(
            f"{model['shape']} cannot be split {tp} ways: heads {model['heads']} and "
            f"intermediate {model['intermediate']} must divide by tp"
        )
    floors = profile["provenance"].get("kernel_floor_ms") or {}
    decode_floor = float(floors.get("decode_b1_c128", 0.0))
    prefill_floor = float(floors.get("prefill_16", decode_floor))
    layers, hidden = model["layers"], model["hidden"]

    def step(ms: float, tokens: int, floor: float) -> float:
        floor = min(floor, ms)
        comm = 2 * layers * allreduce_ms(tokens, hidden, tp)
        return round(floor + (ms - floor) / tp + comm, 4)

    derived = copy.deepcopy(profile)
    derived["name"] = name
    derived["model"] = model | {"tensor_parallel": tp}
    derived["weights_bytes"] = profile["weights_bytes"] // tp
    kv_split = min(tp, model["kv_heads"])
    derived["kv_bytes_per_token"] = profile["kv_bytes_per_token"] // kv_split
    derived["prefill"] = [
        {"tokens": p["tokens"], "ms": step(p["ms"], p["tokens"], prefill_floor)}
        for p in profile["prefill"]
    ]
    derived["decode"] = [
        {
            "batch": d["batch"],
            "context": d["context"],
            "ms": step(d["ms"], d["batch"], decode_floor),
        }
        for d in profile["decode"]
    ]
    derived["mixed"] = [
        m | {"ms": step(m["ms"], m["prefill_tokens"] + m["batch"], prefill_floor)}
        for m in profile.get("mixed", [])
    ]
    derived["provenance"] = profile["provenance"] | {
        "script": "bench/gpu/derive_tp_profile.py",
        "command": f"python bench/gpu/derive_tp_profile.py --profile {profile['name']} --tp {tp}",
        "derived": True,
        "derived_from": profile["name"],
        "derived_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "derivation": (
            "T_tp = F + (T_1 - F)/tp + 2*layers*allreduce(tokens*hidden*2 B); F = measured kernel "
            "floor; ring all-reduce alpha + 2(tp-1)/tp*n/B with alpha and B assumed "
            "(not measured: one GPU was at hand)"
        ),
        "assumptions": {
            "allreduce_latency_us": ALLREDUCE_LATENCY_S * 1e6,
            "allreduce_bus_gb_per_s": ALLREDUCE_BUS_BYTES_PER_S / 1e9,
            "interconnect": "NVLink 4 (SXM)",
        },
    }
    return derived


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", type=Path, required=True)
    parser.add_argument("--tp", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    profile = json.loads(args.profile.read_text())
    name = f"{profile['name']}-tp{args.tp}"
    document = derive(profile, tp=args.tp, name=name)
    document["provenance"]["command"] = shlex.join(
        ["python", "bench/gpu/derive_tp_profile.py", *sys.argv[1:]]
    )
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {args.out} ({name}, derived)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
