"""Fine-tuning beside inference under the inference SLOs, in the cluster simulator.

    python bench/finetune/coserving.py --out bench/results/finetune_coserving.json

A compressed diurnal day of inference (Azure conversation trace lengths, SCORPIO's three classes,
a sinusoidal arrival rate from `--trough-rps` to `--peak-rps` over `--day-s` simulated seconds)
on `--engines` simulated H200 engines of the Llama-3-8B profile, with one LoRA worker (rank 16,
micro-batch 4 × 512 on the Llama-3.2-1B shape, timed by the measured H200 step costs) beside
every engine. The inference slowdown a worker causes at a share of GPU time is the measured
time-sliced interference (`sloserve.finetune.interference`). Policies, same workload and seed:

- `dedicated`: inference alone on its engines (policy `none`); fine-tuning on GPUs of its own,
  at the measured solo rate: the reference for both attainment and fine-tuning throughput;
- `naive`: every worker at full share beside its engine;
- `sloserve`: the guarded co-serving policy (`sloserve.finetune.cosim`, `policy=guarded`).

Fine-tuning throughput is reported in tokens per second and in GPU-equivalents (tokens over what
one dedicated GPU trains in the same time): the GPU time co-serving recovers from inference's
idle capacity. The acceptance target compares with one dedicated fine-tuning GPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from sloserve import build_info
from sloserve.engine import profiles
from sloserve.finetune import cosim, step_costs
from sloserve.sim import settings, workload


def diurnal_workload(
    *, day_s: float, trough_rps: float, peak_rps: float, seed: int
) -> list[workload.WorkloadRequest]:
    """Arrivals of a non-homogeneous Poisson process whose rate goes trough → peak → trough
    once over `day_s` (thinning), lengths drawn from the Azure trace within SCORPIO's limits."""
    rng = np.random.default_rng(seed)
    trace = workload.load_trace()
    times: list[float] = []
    t = 0.0
    while True:
        t += float(rng.exponential(1.0 / peak_rps))
        if t >= day_s:
            break
        rate = trough_rps + (peak_rps - trough_rps) * 0.5 * (1 - math.cos(2 * math.pi * t / day_s))
        if rng.random() < rate / peak_rps:
            times.append(t)
    classes = workload.SCORPIO_CLASSES
    requests = []
    for index, arrival in enumerate(times):
        record = trace[int(rng.integers(0, len(trace)))]
        prompt, output = workload.SCORPIO_LIMITS.apply(record.prompt_tokens, record.output_tokens)
        requests.append(
            workload.WorkloadRequest(
                request_id=f"req-{index:06d}",
                arrival_s=arrival,
                prompt_tokens=prompt,
                output_tokens=output,
                slo_class=classes[int(rng.integers(0, len(classes)))],
            )
        )
    return requests


def _run(
    policy: cosim.CoServingPolicy,
    requests: list[workload.WorkloadRequest],
    args: argparse.Namespace,
) -> tuple[cosim.CoServingResult, float]:
    sim_config = settings.SimulationConfig(
        policy="scorpio-full", profile=profiles.resolve(args.profile), engines=args.engines
    )
    started = time.process_time()
    result = cosim.simulate(
        requests,
        sim_config,
        cosim.CoServingConfig(
            policy=policy,
            micro_batch=args.micro_batch,
            seq_len=args.seq_len,
            control_interval_s=args.control_interval_s,
        ),
    )
    return result, time.process_time() - started


def _classes(result: cosim.CoServingResult) -> dict[str, Any]:
    return {
        name: {
            "requests": group.requests,
            "attainment": round(group.adherence, 4),
            "rejected": group.rejected,
            "ttft_p99_s": group.ttft_p99_s,
            "tpot_p99_s": group.tpot_p99_s,
        }
        for name, group in sorted(result.summary.by_class.items())
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="h200-llama3-8b")
    parser.add_argument("--engines", type=int, default=4)
    parser.add_argument("--day-s", type=float, default=600.0)
    parser.add_argument("--trough-rps", type=float, default=10.0)
    parser.add_argument("--peak-rps", type=float, default=120.0)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--control-interval-s", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    requests = diurnal_workload(
        day_s=args.day_s, trough_rps=args.trough_rps, peak_rps=args.peak_rps, seed=args.seed
    )
    solo = step_costs.load_table().step(micro_batch=args.micro_batch, seq_len=args.seq_len)
    runs: dict[str, Any] = {}
    results: dict[str, cosim.CoServingResult] = {}
    for name, policy in (
        ("dedicated", cosim.CoServingPolicy.NONE),
        ("naive", cosim.CoServingPolicy.NAIVE),
        ("sloserve", cosim.CoServingPolicy.GUARDED),
    ):
        result, cpu_s = _run(policy, requests, args)
        results[name] = result
        tokens_per_s = result.finetune_tokens / result.duration_s
        if name == "dedicated":
            # the dedicated GPU trains alone, back to back, for the whole day
            tokens_per_s = solo.tokens_per_s
        runs[name] = {
            "classes": _classes(result),
            "overall_attainment": round(result.summary.overall.adherence, 4),
            "finetune_tokens_per_s": round(tokens_per_s, 1),
            "finetune_gpu_equivalents": round(tokens_per_s / solo.tokens_per_s, 3),
            "mean_share": round(result.mean_share, 4),
            "simulation_cpu_s": round(cpu_s, 1),
        }
        print(name, json.dumps(runs[name]), flush=True)

    dedicated = runs["dedicated"]
    worst_loss = {
        name: round(
            max(
                dedicated["classes"][c]["attainment"] - runs[name]["classes"][c]["attainment"]
                for c in dedicated["classes"]
            ),
            4,
        )
        for name in ("naive", "sloserve")
    }
    fraction = runs["sloserve"]["finetune_tokens_per_s"] / dedicated["finetune_tokens_per_s"]
    share_timeline = [
        [round(t, 1), round(share, 3)] for t, share in results["sloserve"].share_timeline[::30]
    ]
    document = {
        "benchmark": "finetune_coserving",
        "command": shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
        },
        "build": (
            f"{len(build_info.compiled_modules())} of {len(build_info.COMPILED_MODULES)} "
            "simulator modules compiled (mypyc)"
        ),
        "setup": {
            "profile": args.profile,
            "engines": args.engines,
            "day_s": args.day_s,
            "trough_rps": args.trough_rps,
            "peak_rps": args.peak_rps,
            "requests": len(requests),
            "classes": [
                {"name": c.name, "ttft_s": c.ttft_s, "tpot_s": c.tpot_s}
                for c in workload.SCORPIO_CLASSES
            ],
            "finetune_job": {
                "shape": "llama-3.2-1b",
                "rank": 16,
                "micro_batch": args.micro_batch,
                "seq_len": args.seq_len,
                "solo_step_s": round(solo.step_s, 5),
                "solo_tokens_per_s": round(solo.tokens_per_s, 1),
                "source": "data/finetune/finetune_steps_h200.json",
            },
            "interference": "data/finetune/finetune_coloc_timeslice.json.gz (time-sliced, H200)",
            "dedicated_finetune_gpus": 1,
            "control_interval_s": args.control_interval_s,
            "seed": args.seed,
        },
        "runs": runs,
        "acceptance": {
            "worst_class_attainment_loss_vs_dedicated": worst_loss,
            "sloserve_within_0_02": worst_loss["sloserve"] <= 0.02,
            "sloserve_finetune_fraction_of_one_dedicated_gpu": round(fraction, 3),
            "sloserve_at_least_half": fraction >= 0.5,
        },
        "sloserve_mean_share_every_30_s": share_timeline,
    }
    text = json.dumps(document, indent=1)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(json.dumps(document["acceptance"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
