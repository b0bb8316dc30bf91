"""Measure the latency profile of a Llama-3-8B-shaped decoder (bf16, random weights) on this GPU.

    python bench/gpu/measure_profile.py --out src/sloserve/profiles/h100-llama3-8b.json \
        --results bench/results/gpu_profile_run.json

Every step (prefill, decode, mixed chunked-prefill) is captured in a CUDA graph and replayed, as
vLLM replays its decode graphs, and timed with CUDA events: the times are GPU wall times, the
median of repeats, without the engine's per-step CPU work. That CPU work is recorded separately as
`cpu_overhead_ms_per_step`: unless given with --cpu-overhead-ms, it is the published vLLM time per
output token at concurrency 1 minus this profile's own batch-1 decode step (see README.md).
The profile file follows the sloserve.latency-profile/v1 format; --results adds the spread of
every point, the points skipped and why, and the overhead's derivation.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gpu_metrics
import llama_model
import torch
from elementwise import EAGER, Elementwise, compiled_elementwise
from llama_model import StepPlan

PREFILL_TOKENS = (16, 32, 64, 128, 256, 512, 1024, 2048, 3072, 4096, 6144, 8192)
DECODE_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
DECODE_CONTEXTS = (128, 256, 512, 1024, 2048, 4096)
MIXED_PREFILL_TOKENS = (256, 512, 1024, 2048)
MIXED_BATCHES = (16, 64, 128)
MIXED_CONTEXT = 1024
QUICK = {
    "prefill": (16, 512),
    "batches": (1, 32),
    "contexts": (128, 1024),
    "mixed_prefill": (512,),
    "mixed_batches": (32,),
}
# vLLM's published p50 time per output token for Llama-3.1-8B on an H100 at concurrency 1.
PUBLISHED_TPOT_MS = 6.5
OVERHEAD_REFERENCE = StepPlan(decode_batch=1, decode_context=1024)
OVERHEAD_RANGE_MS = (0.5, 5.0)
# Left free beside the KV pool for activations and graph memory pools (an 8192-token prefill
# needs about 2 GiB).
ACTIVATION_RESERVE_BYTES = 6 * 1024**3
TIMING_BUDGET_S = 0.3
SCHEMA = "sloserve.latency-profile/v1"


@dataclasses.dataclass(frozen=True)
class Timing:
    """GPU times of repeated replays of one captured step, in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int


def time_replays(
    captured: llama_model.CapturedStep, *, min_reps: int = 5, max_reps: int = 50
) -> Timing:
    """Replay back to back, each replay between two CUDA events; repeats sized to the budget."""
    for _ in range(3):
        captured.replay()
    torch.cuda.synchronize()
    probe_start, probe_end = _event(), _event()
    probe_start.record()
    captured.replay()
    probe_end.record()
    probe_end.synchronize()
    estimate_ms = probe_start.elapsed_time(probe_end)
    reps = min(max_reps, max(min_reps, int(TIMING_BUDGET_S * 1e3 / max(estimate_ms, 1e-3))))
    events = [(_event(), _event()) for _ in range(reps)]
    for start, end in events:
        start.record()
        captured.replay()
        end.record()
    torch.cuda.synchronize()
    times = sorted(start.elapsed_time(end) for start, end in events)
    deciles = statistics.quantiles(times, n=10)
    return Timing(
        median_ms=statistics.median(times), p10_ms=deciles[0], p90_ms=deciles[-1], repeats=reps
    )


def _event() -> Any:
    return torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call,unused-ignore]


class ProfileRun:
    """The model, KV pool and records of one measuring run."""

    def __init__(
        self,
        shape: llama_model.DecoderShape,
        *,
        elementwise: Elementwise,
        seed: int,
    ):
        self.device = torch.device("cuda", 0)
        self.shape = shape
        self.elementwise = elementwise
        self.weights = llama_model.random_weights(shape, device=self.device, seed=seed)
        free_bytes, _ = torch.cuda.mem_get_info(self.device)
        capacity = (free_bytes - ACTIVATION_RESERVE_BYTES) // shape.kv_bytes_per_token
        self.pool = llama_model.KVPool(shape, capacity_tokens=capacity, device=self.device)
        positions = max(max(PREFILL_TOKENS), max(DECODE_CONTEXTS) + 1, max(MIXED_PREFILL_TOKENS))
        self.rotations = llama_model.rope_table(shape, positions=positions, device=self.device)
        self.points: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []

    def measure(self, plan: StepPlan) -> Timing | None:
        """Capture and time one step; a step that does not fit is recorded as skipped."""
        point = dataclasses.asdict(plan)
        if not self.pool.fits(batch=1, slots=plan.kv_tokens):
            self.skipped.append(
                point
                | {
                    "reason": f"needs {plan.kv_tokens} KV tokens; pool holds "
                    f"{self.pool.capacity_tokens}"
                }
            )
            return None
        try:
            step = llama_model.build_step(
                self.weights,
                self.shape,
                plan,
                pool=self.pool,
                rotations=self.rotations,
                elementwise=self.elementwise,
            )
            captured = llama_model.capture(step)
            timing = time_replays(captured)
        except torch.cuda.OutOfMemoryError as error:
            self.skipped.append(point | {"reason": f"out of GPU memory: {error}"[:300]})
            return None
        finally:
            torch.cuda.empty_cache()
        self.points.append(point | dataclasses.asdict(timing))
        print(
            f"{plan}: {timing.median_ms:.3f} ms (p10 {timing.p10_ms:.3f}, "
            f"p90 {timing.p90_ms:.3f}, n={timing.repeats})",
            flush=True,
        )
        return timing

    def eager_host_ms(self, plan: StepPlan, *, repeats: int = 10) -> tuple[float, float]:
        """Host time to enqueue one eager (uncaptured) step, and its eager wall time, medians."""
        step = llama_model.build_step(
            self.weights,
            self.shape,
            plan,
            pool=self.pool,
            rotations=self.rotations,
            elementwise=self.elementwise,
        )
        enqueue, wall = [], []
        for _ in range(repeats + 2):
            torch.cuda.synchronize()
            began = time.perf_counter()
            step()
            enqueued = time.perf_counter()
            torch.cuda.synchronize()
            enqueue.append((enqueued - began) * 1e3)
            wall.append((time.perf_counter() - began) * 1e3)
        return statistics.median(enqueue[2:]), statistics.median(wall[2:])


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    grid = (
        QUICK
        if args.quick
        else {
            "prefill": PREFILL_TOKENS,
            "batches": DECODE_BATCHES,
            "contexts": DECODE_CONTEXTS,
            "mixed_prefill": MIXED_PREFILL_TOKENS,
            "mixed_batches": MIXED_BATCHES,
        }
    )
    device = gpu_metrics.device_info()
    shape = llama_model.LLAMA3_8B.with_layers(args.layers)
    started = time.monotonic()
    elementwise = compiled_elementwise() if args.elementwise == "compiled" else EAGER
    run = ProfileRun(shape, elementwise=elementwise, seed=args.seed)
    print(
        f"{device.name}: weights {run.weights.nbytes() / 1e9:.2f} GB, KV pool "
        f"{run.pool.capacity_tokens} tokens",
        flush=True,
    )
    prefill = []
    for tokens in grid["prefill"]:
        if timing := run.measure(StepPlan(prefill_tokens=tokens)):
            prefill.append({"tokens": tokens, "ms": round(timing.median_ms, 4)})
    decode = []
    for batch in grid["batches"]:
        for context in grid["contexts"]:
            if timing := run.measure(StepPlan(decode_batch=batch, decode_context=context)):
                decode.append(
                    {"batch": batch, "context": context, "ms": round(timing.median_ms, 4)}
                )
    mixed = []
    for tokens in grid["mixed_prefill"]:
        for batch in grid["mixed_batches"]:
            plan = StepPlan(prefill_tokens=tokens, decode_batch=batch, decode_context=MIXED_CONTEXT)
            if timing := run.measure(plan):
                mixed.append(
                    {
                        "prefill_tokens": tokens,
                        "batch": batch,
                        "context": MIXED_CONTEXT,
                        "ms": round(timing.median_ms, 4),
                    }
                )
    reference = run.measure(OVERHEAD_REFERENCE)
    enqueue_ms, eager_wall_ms = run.eager_host_ms(OVERHEAD_REFERENCE)
    overhead_ms, overhead_source = _cpu_overhead(args.cpu_overhead_ms, reference)
    profile = {
        "schema": SCHEMA,
        "name": args.name,
        "device": device.name,
        "model": {
            "shape": shape.name,
            "layers": shape.layers,
            "hidden": shape.hidden,
            "heads": shape.heads,
            "kv_heads": shape.kv_heads,
            "intermediate": shape.intermediate,
            "vocab": shape.vocab,
            "dtype": "bfloat16",
        },
        "weights_bytes": run.weights.nbytes(),
        "gpu_memory_bytes": device.memory_bytes,
        "kv_bytes_per_token": shape.kv_bytes_per_token,
        "cpu_overhead_ms_per_step": round(overhead_ms, 4),
        "prefill": prefill,
        "decode": decode,
        "mixed": mixed,
        "provenance": {
            "script": "bench/gpu/measure_profile.py",
            "command": shlex.join(["python", *sys.argv]),
            "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "torch": str(torch.__version__),
            "driver": device.driver,
        },
    }
    _write(Path(args.out), profile)
    if args.results:
        _write(
            Path(args.results),
            {
                "command": profile["provenance"]["command"],
                "device": dataclasses.asdict(device),
                "torch": str(torch.__version__),
                "seconds": round(time.monotonic() - started, 1),
                "kv_pool_tokens": run.pool.capacity_tokens,
                "native_gqa_attention": llama_model.native_gqa_in_use(),
                "elementwise": elementwise.name,
                "cpu_overhead_ms_per_step": round(overhead_ms, 4),
                "cpu_overhead_source": overhead_source,
                "eager_enqueue_ms_decode_b1_c1024": round(enqueue_ms, 4),
                "eager_wall_ms_decode_b1_c1024": round(eager_wall_ms, 4),
                "points": run.points,
                "skipped": run.skipped,
            },
        )
    print(
        f"wrote {args.out}: {len(prefill)} prefill, {len(decode)} decode, {len(mixed)} mixed "
        f"points; skipped {len(run.skipped)}; cpu overhead {overhead_ms:.3f} ms "
        f"({overhead_source}); eager enqueue {enqueue_ms:.3f} ms, eager wall "
        f"{eager_wall_ms:.3f} ms; {time.monotonic() - started:.0f} s"
    )
    return 0


def _cpu_overhead(given: float | None, reference: Timing | None) -> tuple[float, str]:
    if given is not None:
        return given, "given with --cpu-overhead-ms"
    if reference is None:
        raise SystemExit("the decode reference point did not fit; pass --cpu-overhead-ms")
    low, high = OVERHEAD_RANGE_MS
    derived = min(high, max(low, PUBLISHED_TPOT_MS - reference.median_ms))
    return derived, (
        f"published vLLM TPOT p50 {PUBLISHED_TPOT_MS} ms (Llama-3.1-8B, H100, concurrency 1) "
        f"minus measured decode step batch 1 context {OVERHEAD_REFERENCE.decode_context} "
        f"({reference.median_ms:.3f} ms), clamped to [{low}, {high}] ms"
    )


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="profile JSON to write")
    parser.add_argument("--results", default="", help="run metadata JSON to write (optional)")
    parser.add_argument("--name", default="h100-llama3-8b", help="profile name")
    parser.add_argument("--layers", type=int, default=32, help="decoder depth (32 for Llama-3-8B)")
    parser.add_argument(
        "--cpu-overhead-ms",
        type=float,
        default=None,
        help="per-step CPU overhead to record (default: derived, see module doc)",
    )
    parser.add_argument(
        "--elementwise",
        choices=("compiled", "eager"),
        default="compiled",
        help="fuse the element-wise stages with torch.compile (as engines fuse them), or not",
    )
    parser.add_argument("--quick", action="store_true", help="a few points only: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
