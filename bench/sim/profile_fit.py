"""How closely the simulated engine, and the scheduler's fitted models, follow the measured profile.

    python bench/sim/profile_fit.py --profile h100-llama3-8b --out bench/results/profile_fit.json

`max_rel_error` and `points` are the engine simulator's: every measured prefill, decode and mixed
point replayed through the engine (`sloserve.engine.calibration`), its step time against the
measured GPU time. `scheduler_models` adds the fit error of the scheduling core's prefill and
decode-step models (`sloserve.scheduling.latency_fit`) on the same profile.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import sweep

from sloserve.engine import calibration
from sloserve.scheduling import latency_fit


def main() -> None:
    parser = argparse.ArgumentParser(description="simulator and models vs the measured profile")
    parser.add_argument("--profile", default="h100-llama3-8b")
    parser.add_argument("--out", type=Path, default=Path("bench/results/profile_fit.json"))
    args = parser.parse_args()
    profile = sweep.load_profile(args.profile)
    report = calibration.replay_profile(profile)
    fitted = latency_fit.fit_latency_model(profile)
    by_kind = {
        kind: round(max(p.relative_error for p in report.points if p.kind == kind), 5)
        for kind in dict.fromkeys(p.kind for p in report.points)
    }
    document = {
        "benchmark": "profile_fit",
        **sweep.provenance(profile),
        "max_rel_error": round(report.max_relative_error, 5),
        "points": len(report.points),
        "max_rel_error_by_kind": by_kind,
        "scheduler_models": {
            "prefill": dataclasses.asdict(fitted.prefill_fit),
            "decode": dataclasses.asdict(fitted.decode_fit),
        },
        "replayed": [
            {
                "kind": point.kind,
                "prefill_tokens": point.prefill_tokens,
                "batch": point.batch,
                "context": point.context,
                "measured_ms": round(point.measured_ms, 4),
                "simulated_ms": round(point.simulated_ms, 4),
                "rel_error": round(point.relative_error, 5),
            }
            for point in report.points
        ],
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(
        f"wrote {args.out}: max relative error {document['max_rel_error']} "
        f"over {len(report.points)} points"
    )


if __name__ == "__main__":
    main()
