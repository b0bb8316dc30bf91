"""Fold the points of a `measure_profile.py --resume --no-overhead` run into the profile it
resumed, keeping that profile's measured CPU overhead and provenance.

    python bench/gpu/merge_resumed_profile.py \
        --profile src/sloserve/profiles/h200-qwen2.5-32b.json \
        --resumed OUT/profiles/h200-qwen2.5-32b.json \
        --results OUT/results/gpu_profile_h200-qwen2.5-32b.json \
        --out-results bench/results/gpu_profile_h200-qwen2.5-32b.json

A resumed run re-measures nothing it already has (those points come from its --results file)
and, with --no-overhead, leaves the CPU overhead unmeasured; the committed profile's overhead was
measured by the engine step loop on the same GPU model, so it is kept. The provenance gains a
`resumed` entry naming the run, its date and the points it added. The run's output directory is
written as OUT in the recorded commands.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

_OUTPUT_DIRECTORY = re.compile(r"\S*/out/")


def _portable(command: str) -> str:
    return _OUTPUT_DIRECTORY.sub("OUT/", command)


def merge(profile: dict[str, Any], resumed: dict[str, Any]) -> dict[str, Any]:
    """`profile` with the points of `resumed`, its overhead and provenance kept."""
    added = {
        kind: len(resumed[kind]) - len(profile.get(kind, ()))
        for kind in ("prefill", "decode", "mixed")
    }
    merged = dict(profile)
    for kind in ("prefill", "decode", "mixed"):
        merged[kind] = resumed[kind]
    provenance = dict(profile["provenance"])
    provenance["resumed"] = {
        "command": _portable(resumed["provenance"]["command"]),
        "measured_at": resumed["provenance"]["measured_at"],
        "driver": resumed["provenance"]["driver"],
        "points_added": added,
        "note": "points of the earlier run kept (not re-measured); the CPU overhead is the "
        "earlier run's engine-step-loop measurement",
    }
    merged["provenance"] = provenance
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", type=Path, required=True, help="committed profile (rewritten)")
    parser.add_argument("--resumed", type=Path, required=True, help="the resumed run's profile")
    parser.add_argument("--results", type=Path, required=True, help="the resumed run's --results")
    parser.add_argument("--out-results", type=Path, required=True, help="where to commit them")
    args = parser.parse_args()
    profile = json.loads(args.profile.read_text())
    resumed = json.loads(args.resumed.read_text())
    if resumed["name"] != profile["name"]:
        raise SystemExit(f"{args.resumed} is profile {resumed['name']!r}, not {profile['name']!r}")
    args.profile.write_text(
        json.dumps(merge(profile, resumed), indent=1, ensure_ascii=False) + "\n"
    )
    results = json.loads(args.results.read_text())
    results["command"] = _portable(results["command"])
    args.out_results.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"merged {args.resumed} into {args.profile}")


if __name__ == "__main__":
    main()
