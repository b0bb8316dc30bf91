"""Prefix-cache-aware routing in the simulator: six routers on workloads whose prompts repeat.

    python bench/sim/prefix_routing.py --out bench/results/prefix_routing.json

Workloads (SCORPIO's three classes assigned by tenant, `sim.prefix_workloads`):
- `mooncake`: the first `--mooncake-requests` requests of the Mooncake FAST'25 conversation trace
  shipped in `sloserve/sim/traces/`, its arrivals compressed by the load multiplier;
- `multi-turn`: generated chat sessions that resend their history;
- `shared-system`: generated single-turn requests behind per-tenant system prompts.

Routers (`sim.policies`): round-robin, least-outstanding, llm-d-prefix (llm-d's prefix-cache 3 +
queue 2 + KV-utilization 2 scorers), cache-aware (vllm-router's policy, in the simulator: no real
router processes), scorpio-full (sloserve without prefix awareness) and scorpio-prefix (sloserve
with it). Every router of a (workload, engines, load) point runs the same requests; engines
cache prefixes under every router. Rows: per class and overall, attainment, goodput, prefix hit
rate (cached prompt tokens / prompt tokens of served requests), TTFT p50/p99 and rejections by
reason. `acceptance` checks the issue's targets at the load where the best baseline's overall
attainment first drops below 0.9; `ttft_prediction` gives the gateway's median absolute TTFT
prediction error on cached prompts (dispatch to first token), without and with prefix awareness.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent import futures
from importlib import resources
from pathlib import Path

import sweep

from sloserve.scheduling import profile_files, ttft_guard
from sloserve.sim import (
    cluster,
    prefix_workloads,
    records,
    settings,
    simulator,
    trace_files,
    workload,
)

ROUTERS = (
    "round-robin",
    "least-outstanding",
    "llm-d-prefix",
    "cache-aware",
    "scorpio-full",
    "scorpio-prefix",
)
BASELINES = ("round-robin", "least-outstanding", "llm-d-prefix", "cache-aware")
MAX_MODEL_LEN = 131072


def _mooncake(count: int, multiplier: float) -> list[workload.WorkloadRequest]:
    path = Path(str(resources.files("sloserve.sim") / "traces")) / (
        "mooncake_fast25_conversation.jsonl.gz"
    )
    entries = trace_files.read_trace(path)
    return prefix_workloads.from_trace(entries, time_scale=1.0 / multiplier, max_requests=count)


def build_workload(name: str, load: float, count: int) -> list[workload.WorkloadRequest]:
    """`name` at load point `load` (a multiplier of the trace's rate, or a rate in req/s)."""
    if name == "mooncake":
        return _mooncake(count, load)
    if name == "multi-turn":
        turns = 5
        return prefix_workloads.MultiTurnSessions(
            sessions=max(1, count // turns),
            turns=turns,
            session_rate_per_s=load / turns,
            think_time_s=2.0,
        ).build()
    if name == "shared-system":
        return prefix_workloads.SharedSystemPrompts(count=count, rate_rps=load).build()
    raise ValueError(f"unknown workload {name!r}")


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _group_row(group: list[records.RequestRecord], duration_s: float) -> dict[str, object]:
    served = [r for r in group if r.outcome is records.Outcome.SERVED]
    prompt = sum(r.prompt_tokens for r in served)
    ttfts = [r.ttft_s for r in served if r.ttft_s is not None]
    rejections: dict[str, int] = {}
    for r in group:
        if r.reject_reason is not None:
            rejections[r.reject_reason] = rejections.get(r.reject_reason, 0) + 1
    good = sum(1 for r in group if r.attained)
    return {
        "requests": len(group),
        "attainment": round(good / len(group), 4) if group else None,
        "goodput_rps": round(good / duration_s, 4) if duration_s > 0 else None,
        "prefix_hit_rate": round(sum(r.cached_tokens for r in served) / prompt, 4)
        if prompt
        else None,
        "ttft_p50_s": _round(_percentile(ttfts, 0.5)),
        "ttft_p99_s": _round(_percentile(ttfts, 0.99)),
        "rejections": rejections,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _prediction_errors(result: simulator.SimulationResult) -> list[float]:
    """|predicted − actual| / actual of the dispatch-to-first-token time, cached prompts. The
    prediction less the guard's safety margin (`ttft_guard.DEFAULT_MARGIN_S`), which is
    headroom added on purpose, not part of the estimate."""
    errors: list[float] = []
    for r in result.records:
        if (
            r.cached_tokens > 0
            and r.predicted_ttft_s is not None
            and r.first_token_s is not None
            and r.dispatched_s is not None
        ):
            actual = r.first_token_s - r.dispatched_s
            if actual > 0:
                predicted = r.predicted_ttft_s - ttft_guard.DEFAULT_MARGIN_S
                errors.append(abs(predicted - actual) / actual)
    return errors


def run_point(
    task: tuple[str, int, float, str, int, str],
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """One router at one (workload, engines, load) point: its rows and prediction errors."""
    name, engines, load, router, count, profile_name = task
    profile = profile_files.load_profile(profile_name)
    # loads are given for four engines; more engines get proportionally more traffic
    requests = build_workload(name, load * engines / 4, count)
    qps = (len(requests) - 1) / (requests[-1].arrival_s - requests[0].arrival_s)
    config = settings.SimulationConfig(
        policy=router,
        profile=profile,
        engines=engines,
        engine_settings=cluster.EngineSettings(max_model_len=MAX_MODEL_LEN),
    )
    started = time.perf_counter()
    result = simulator.simulate(requests, config)
    duration_s = result.summary.duration_s
    groups: dict[str, list[records.RequestRecord]] = {"overall": list(result.records)}
    for r in result.records:
        groups.setdefault(r.slo_class, []).append(r)
    rows = [
        {
            "workload": name,
            "engines": engines,
            "load": load,
            "qps": round(qps, 3),
            "router": router,
            "class": slo_class,
            **_group_row(group, duration_s),
        }
        for slo_class, group in groups.items()
    ]
    errors = _prediction_errors(result)
    return rows, {
        "workload": name,
        "engines": engines,
        "load": load,
        "router": router,
        "cached_prompts": len(errors),
        "median_abs_error": _round(statistics.median(errors)) if errors else None,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _find(rows: list[dict[str, object]], **match: object) -> dict[str, object] | None:
    for row in rows:
        if all(row[key] == value for key, value in match.items()):
            return row
    return None


def acceptance(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The issue's targets at each (workload, engines): the first load where the best
    baseline's overall attainment drops below 0.9."""
    checks: list[dict[str, object]] = []
    points = sorted({(r["workload"], r["engines"]) for r in rows}, key=str)
    for name, engines in points:
        loads = sorted(
            {r["load"] for r in rows if (r["workload"], r["engines"]) == (name, engines)}
        )
        for load in loads:
            base = [
                _find(
                    rows,
                    workload=name,
                    engines=engines,
                    load=load,
                    router=b,
                    **{"class": "overall"},
                )
                for b in BASELINES
            ]
            found = [b for b in base if b is not None]
            best = max(found, key=lambda b: float(b["attainment"] or 0))  # type: ignore[arg-type]
            if float(best["attainment"] or 0) >= 0.9:  # type: ignore[arg-type]
                continue
            ours = _find(
                rows, workload=name, engines=engines, load=load, router="scorpio-prefix",
                **{"class": "overall"},
            )  # fmt: skip
            ours_interactive = _find(
                rows, workload=name, engines=engines, load=load, router="scorpio-prefix",
                **{"class": "interactive"},
            )  # fmt: skip
            llm_d = _find(
                rows, workload=name, engines=engines, load=load, router="llm-d-prefix",
                **{"class": "overall"},
            )  # fmt: skip
            assert ours is not None
            assert llm_d is not None
            best_goodput = float(best["goodput_rps"] or 0)  # type: ignore[arg-type]
            ratio = float(ours["goodput_rps"] or 0) / best_goodput if best_goodput else None  # type: ignore[arg-type]
            our_hit = float(ours["prefix_hit_rate"] or 0)  # type: ignore[arg-type]
            their_hit = float(llm_d["prefix_hit_rate"] or 0)  # type: ignore[arg-type]
            interactive = None if ours_interactive is None else ours_interactive["attainment"]
            checks.append(
                {
                    "workload": name,
                    "engines": engines,
                    "load": load,
                    "best_baseline": best["router"],
                    "best_baseline_attainment": best["attainment"],
                    "goodput_ratio": _round(ratio),
                    "goodput_ratio_target": 1.25,
                    "interactive_attainment": interactive,
                    "interactive_attainment_target": 0.95,
                    "prefix_hit_rate": our_hit,
                    "llm_d_prefix_hit_rate": their_hit,
                    "hit_rate_within_10_percent": their_hit == 0
                    or abs(our_hit - their_hit) / their_hit <= 0.10,
                    "holds": bool(
                        ratio is not None
                        and ratio >= 1.25
                        and interactive is not None
                        and float(interactive) >= 0.95  # type: ignore[arg-type]
                        and (their_hit == 0 or abs(our_hit - their_hit) / their_hit <= 0.10)
                    ),
                }
            )
            break
        else:
            note = "no load made the best baseline drop below 0.9"
            checks.append({"workload": name, "engines": engines, "note": note})
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="h200-llama3-8b")
    parser.add_argument("--engines", default="4,8")
    parser.add_argument("--mooncake-loads", default="0.5,1,1.5,2")
    parser.add_argument("--mooncake-requests", type=int, default=2000)
    parser.add_argument("--multi-turn-loads", default="40,80,120,160")
    parser.add_argument("--shared-system-loads", default="60,120,180,240")
    parser.add_argument("--generated-requests", type=int, default=2000)
    parser.add_argument("--workloads", default="mooncake,multi-turn,shared-system")
    parser.add_argument("--jobs", type=int, default=1, help="simulations run in parallel")
    parser.add_argument("--out", type=Path, default=Path("bench/results/prefix_routing.json"))
    args = parser.parse_args()
    loads = {
        "mooncake": [float(x) for x in args.mooncake_loads.split(",")],
        "multi-turn": [float(x) for x in args.multi_turn_loads.split(",")],
        "shared-system": [float(x) for x in args.shared_system_loads.split(",")],
    }
    tasks = []
    for name in args.workloads.split(","):
        count = args.mooncake_requests if name == "mooncake" else args.generated_requests
        for engines in (int(x) for x in args.engines.split(",")):
            for load in loads[name]:
                for router in ROUTERS:
                    tasks.append((name, engines, load, router, count, args.profile))
    rows: list[dict[str, object]] = []
    predictions: list[dict[str, object]] = []
    with futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for point_rows, prediction in pool.map(run_point, tasks):
            rows.extend(point_rows)
            predictions.append(prediction)
            print(
                f"{prediction['workload']} x{prediction['engines']} load {prediction['load']} "
                f"{prediction['router']}: {prediction['seconds']} s",
                flush=True,
            )
    cached = [p for p in predictions if p["router"] in ("scorpio-full", "scorpio-prefix")]
    document = {
        **sweep.provenance(profile_files.load_profile(args.profile)),
        "max_model_len": MAX_MODEL_LEN,
        "routers": list(ROUTERS),
        "baselines": list(BASELINES),
        "acceptance": acceptance(rows),
        "ttft_prediction": {
            "what": "median |predicted - actual| / actual of dispatch-to-first-token time, "
            "requests that found a cached prefix; scorpio-full predicts the whole prompt "
            "(before), scorpio-prefix the uncached part (after)",
            "points": cached,
        },
        "rows": rows,
    }
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document["acceptance"], indent=1))


if __name__ == "__main__":
    main()
