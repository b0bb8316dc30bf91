"""Measure the latency profile of a decoder shape (bf16, random weights) on this GPU.

    python bench/gpu/measure_profile.py --shape llama-3-8b --name h200-llama3-8b \
        --out src/sloserve/profiles/h200-llama3-8b.json \
        --results bench/results/gpu_profile_h200-llama3-8b.json

Every step (prefill, decode, mixed chunked-prefill) is captured in a CUDA graph and replayed, as
vLLM replays its decode graphs, and timed with CUDA events: the times are GPU wall times, the
median of repeats, without the engine's per-step CPU work. That CPU work is measured on the same
machine by running an engine's step loop around the captured graphs (`engine_loop.py`: schedule,
prepare and copy inputs, replay, copy the sampled tokens back, update the sequences) at several
batch sizes; each step's wall time minus its replay's GPU time is its overhead, and a line
(constant per step + per decoding sequence) fitted over the batches is recorded as
`cpu_overhead_ms_per_step` and `cpu_overhead_ms_per_sequence` (README.md). --cpu-overhead-ms
overrides the measurement. The profile file follows the sloserve.latency-profile/v1 format;
--results adds the spread of every point, the points skipped and why, and the overhead loops.
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

import engine_loop
import gpu_metrics
import llama_model
import torch
from elementwise import EAGER, Elementwise, compiled_elementwise
from llama_model import StepPlan

PREFILL_TOKENS = (16, 32, 64, 128, 256, 512, 1024, 2048, 3072, 4096, 6144, 8192)
DECODE_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
DECODE_CONTEXTS = (128, 256, 512, 1024, 2048, 4096, 8192)
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
# The engine step loops the CPU overhead is measured with: decode at these batches (context
# 1024), and one chunked-prefill step.
OVERHEAD_BATCHES = (1, 8, 32, 128, 256)
OVERHEAD_CONTEXT = 1024
OVERHEAD_MIXED = StepPlan(prefill_tokens=512, decode_batch=32, decode_context=1024)
OVERHEAD_STEPS = 60
OVERHEAD_BUDGET_S = 30.0
# Left free beside the KV pool for activations and graph memory pools (an 8192-token prefill
# of the 8B shape needs about 2 GiB, of the 32B shape about 4 GiB).
ACTIVATION_RESERVE_BYTES = 8 * 1024**3
TIMING_BUDGET_S = 0.25
SCHEMA = "sloserve.latency-profile/v1"
ARCHITECTURES = {"qwen2.5-32b": "qwen2"}


@dataclasses.dataclass(frozen=True)
class Timing:
    """GPU times of repeated replays of one captured step, in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int


def time_replays(captured: Any, *, min_reps: int = 5, max_reps: int = 50) -> Timing:
    """Replay back to back, each replay between two CUDA events; repeats sized to the budget.

    Off the GPU (checking the script on a CPU) the host clock times eager runs instead."""
    for _ in range(3):
        captured.replay()
    if not torch.cuda.is_available():
        times = []
        for _ in range(min_reps):
            began = time.perf_counter()
            captured.replay()
            times.append((time.perf_counter() - began) * 1e3)
        return _timing(times)
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
    return _timing([start.elapsed_time(end) for start, end in events])


def _timing(times: list[float]) -> Timing:
    ordered = sorted(times)
    deciles = statistics.quantiles(ordered, n=10)
    return Timing(
        median_ms=statistics.median(ordered),
        p10_ms=deciles[0],
        p90_ms=deciles[-1],
        repeats=len(ordered),
    )


def _event() -> Any:
    return torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call,unused-ignore]


def _device() -> torch.device:
    return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")


class ProfileRun:
    """The model, KV pool and records of one measuring run.

    `deadline` (time.monotonic() seconds): points not begun by then are recorded as skipped, so
    a run inside a fixed lease still writes its profile."""

    def __init__(
        self,
        shape: llama_model.DecoderShape,
        *,
        elementwise: Elementwise,
        seed: int,
        deadline: float,
        pool_tokens: int | None = None,
    ):
        self.device = _device()
        self.shape = shape
        self.elementwise = elementwise
        self.deadline = deadline
        self.weights = llama_model.random_weights(shape, device=self.device, seed=seed)
        if pool_tokens is None:
            free_bytes, _ = torch.cuda.mem_get_info(self.device)
            pool_tokens = (free_bytes - ACTIVATION_RESERVE_BYTES) // shape.kv_bytes_per_token
        self.pool = llama_model.KVPool(shape, capacity_tokens=pool_tokens, device=self.device)
        positions = max(max(PREFILL_TOKENS), max(DECODE_CONTEXTS) + 1, max(MIXED_PREFILL_TOKENS))
        self.rotations = llama_model.rope_table(shape, positions=positions, device=self.device)
        self.points: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        # points an earlier run of the same profile measured (--resume): kept, not re-measured
        self.known: dict[tuple[int, int, int], Timing] = {}

    def resume_from(self, points: list[dict[str, Any]]) -> None:
        for point in points:
            key = (point["prefill_tokens"], point["decode_batch"], point["decode_context"])
            self.known[key] = Timing(
                median_ms=point["median_ms"],
                p10_ms=point["p10_ms"],
                p90_ms=point["p90_ms"],
                repeats=point["repeats"],
            )

    def _capture(self, plan: StepPlan) -> Any:
        step = llama_model.build_step(
            self.weights,
            self.shape,
            plan,
            pool=self.pool,
            rotations=self.rotations,
            elementwise=self.elementwise,
        )
        return llama_model.capture(step)

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
        known = self.known.get((plan.prefill_tokens, plan.decode_batch, plan.decode_context))
        if known is not None:
            self.points.append(point | dataclasses.asdict(known) | {"from_earlier_run": True})
            return known
        if time.monotonic() > self.deadline:
            self.skipped.append(point | {"reason": "the run's time budget was spent"})
            return None
        try:
            timing = time_replays(self._capture(plan))
        except torch.cuda.OutOfMemoryError as error:
            self.skipped.append(point | {"reason": f"out of GPU memory: {error}"[:300]})
            return None
        finally:
            _release()
        self.points.append(point | dataclasses.asdict(timing))
        print(
            f"{plan}: {timing.median_ms:.3f} ms (p10 {timing.p10_ms:.3f}, "
            f"p90 {timing.p90_ms:.3f}, n={timing.repeats})",
            flush=True,
        )
        return timing

    def overhead(self, plan: StepPlan, *, steps: int) -> engine_loop.OverheadSample | None:
        """The engine step loop around the captured `plan`: host overhead per step."""
        if not self.pool.fits(batch=1, slots=plan.kv_tokens + plan.decode_batch * 300):
            return None
        try:
            loop = engine_loop.EngineLoop(
                self._capture(plan),
                batch=plan.decode_batch,
                context=plan.decode_context,
                prefill_tokens=plan.prefill_tokens,
                device=self.device,
                vocab=self.shape.vocab,
            )
            sample = loop.run(steps=steps)
        except torch.cuda.OutOfMemoryError:
            return None
        finally:
            _release()
        print(
            f"engine loop {plan}: overhead {sample.overhead_ms:.3f} ms/step "
            f"(p10 {sample.overhead_p10_ms:.3f}, p90 {sample.overhead_p90_ms:.3f}), "
            f"gpu {sample.gpu_ms:.3f} ms, wall {sample.wall_ms:.3f} ms",
            flush=True,
        )
        return sample


def _overhead_main(args: argparse.Namespace, shape: llama_model.DecoderShape) -> int:
    """--overhead-only: the CPU overhead and kernel floor of the profile already at --out."""
    run = ProfileRun(
        shape,
        elementwise=EAGER,
        seed=args.seed,
        deadline=time.monotonic() + args.budget_s,
        pool_tokens=args.pool_tokens or None,
    )
    _measure_overhead(run, args)
    return 0


def _measure_overhead(run: ProfileRun, args: argparse.Namespace) -> None:
    """Run the engine step loops and the kernel floor, and write them into the profile at --out
    (and the results file), which the points were already written to."""
    started = time.monotonic()
    steps = 8 if args.quick or args.tiny else OVERHEAD_STEPS
    plans = (
        *(StepPlan(decode_batch=b, decode_context=OVERHEAD_CONTEXT) for b in OVERHEAD_BATCHES),
        OVERHEAD_MIXED,
    )
    samples = []
    for plan in plans:
        if time.monotonic() - started > OVERHEAD_BUDGET_S:
            break
        if (sample := run.overhead(plan, steps=steps)) is not None:
            samples.append(sample)
    shape, elementwise = run.shape, run.elementwise
    run.pool = None  # type: ignore[assignment]  # the floor's model needs the memory
    _release()
    per_step_ms, per_sequence_ms = engine_loop.fit_overhead(samples)
    floor = _kernel_floor(shape, elementwise=elementwise, seed=args.seed)
    method = (
        "measured on this machine: an engine step loop (bench/gpu/engine_loop.py: schedule, "
        "prepare and copy inputs, replay the captured graph, copy the sampled tokens back, "
        f"update the sequences) at decode batches {list(OVERHEAD_BATCHES)} (context "
        f"{OVERHEAD_CONTEXT}) and one mixed step; per step, wall time minus the replay's GPU "
        "time (CUDA events), median over the steps; cpu_overhead_ms_per_step and "
        "_per_sequence are a line fitted over the decode batches"
    )
    path = Path(args.out)
    profile = json.loads(path.read_text())
    if args.cpu_overhead_ms is None:
        profile["cpu_overhead_ms_per_step"] = round(per_step_ms, 4)
        profile["cpu_overhead_ms_per_sequence"] = round(per_sequence_ms, 5)
        profile["provenance"]["cpu_overhead"] = {
            "method": method,
            "samples": [sample.record() for sample in samples],
        }
    profile["provenance"]["kernel_floor_ms"] = floor
    _write(path, profile)
    if args.results and Path(args.results).exists():
        results = json.loads(Path(args.results).read_text())
        results["cpu_overhead_ms_per_step"] = round(per_step_ms, 4)
        results["cpu_overhead_ms_per_sequence"] = round(per_sequence_ms, 5)
        results["cpu_overhead_samples"] = [sample.record() for sample in samples]
        results["kernel_floor_ms"] = floor
        results["overhead_seconds"] = round(time.monotonic() - started, 1)
        _write(Path(args.results), results)
    print(
        f"patched {path}: cpu overhead {per_step_ms:.3f} ms/step + "
        f"{per_sequence_ms * 1000:.2f} us/sequence; kernel floor {floor}",
        flush=True,
    )


def _kernel_floor(
    shape: llama_model.DecoderShape, *, elementwise: Elementwise, seed: int
) -> dict[str, float]:
    """GPU time of the same number of layers at a width too small to cost anything: the part of
    a step that does not shrink when tensor parallelism splits the layers (kernel launches and
    their latency inside the graph). Derived tensor-parallel profiles keep it unsplit. Measured
    with the eager element-wise stages (more kernels than the compiled ones): an upper bound."""
    skinny = dataclasses.replace(
        shape, hidden=128, heads=2, kv_heads=1, intermediate=256, vocab=1024
    )
    run = ProfileRun(
        skinny,
        elementwise=elementwise,
        seed=seed,
        deadline=time.monotonic() + 60,
        pool_tokens=20000,
    )
    floor = {}
    for label, plan in (
        ("decode_b1_c128", StepPlan(decode_batch=1, decode_context=128)),
        ("prefill_16", StepPlan(prefill_tokens=16)),
    ):
        timing = run.measure(plan)
        floor[label] = round(timing.median_ms, 4) if timing else 0.0
    del run
    _release()
    return floor


def _release() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


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
    shape = llama_model.SHAPES[args.shape]
    if args.layers:
        shape = shape.with_layers(args.layers)
    if args.tiny:
        shape = dataclasses.replace(
            shape, layers=2, hidden=256, heads=4, kv_heads=2, intermediate=512, vocab=1024
        )
    if args.overhead_only:
        return _overhead_main(args, shape)
    started = time.monotonic()
    deadline = started + args.budget_s
    elementwise = compiled_elementwise() if args.elementwise == "compiled" else EAGER
    run = ProfileRun(
        shape,
        elementwise=elementwise,
        seed=args.seed,
        deadline=deadline,
        pool_tokens=args.pool_tokens or None,
    )
    if args.resume and Path(args.results).exists():
        run.resume_from(json.loads(Path(args.results).read_text())["points"])
    print(
        f"{device.name}: {shape.name} ({shape.layers} layers), weights "
        f"{run.weights.nbytes() / 1e9:.2f} GB, KV pool {run.pool.capacity_tokens} tokens; "
        f"{len(run.known)} points from an earlier run",
        flush=True,
    )
    per_step_ms = args.cpu_overhead_ms or 0.0
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
    measured_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    command = shlex.join(["python", "bench/gpu/measure_profile.py", *(argv or sys.argv[1:])])
    overhead_note = (
        {"method": "given with --cpu-overhead-ms"}
        if args.cpu_overhead_ms is not None
        else {"method": "not measured yet: run this script again with --overhead-only"}
    )
    profile = {
        "schema": SCHEMA,
        "name": args.name,
        "device": device.name,
        "model": {
            "shape": shape.name,
            "architecture": ARCHITECTURES.get(shape.name, "llama"),
            "parameters": llama_model.parameter_count(shape),
            "layers": shape.layers,
            "hidden": shape.hidden,
            "heads": shape.heads,
            "kv_heads": shape.kv_heads,
            "intermediate": shape.intermediate,
            "vocab": shape.vocab,
            "dtype": "bfloat16",
            "tensor_parallel": 1,
        },
        "weights_bytes": run.weights.nbytes(),
        "gpu_memory_bytes": device.memory_bytes,
        "kv_bytes_per_token": shape.kv_bytes_per_token,
        "cpu_overhead_ms_per_step": round(per_step_ms, 4),
        "cpu_overhead_ms_per_sequence": 0.0,
        "prefill": prefill,
        "decode": decode,
        "mixed": mixed,
        "provenance": {
            "script": "bench/gpu/measure_profile.py",
            "command": command,
            "measured_at": measured_at,
            "torch": str(torch.__version__),
            "driver": device.driver,
            "gpu": device.name,
            "weights": "random bf16 (no checkpoint); kernels and bytes moved are the model's",
            "timing": "CUDA graph replays timed with CUDA events, median of 5 to 50 repeats",
            "elementwise": elementwise.name,
            "cpu_overhead": overhead_note,
            "skipped": len(run.skipped),
        },
    }
    _write(Path(args.out), profile)
    if args.results:
        _write(
            Path(args.results),
            {
                "command": command,
                "device": dataclasses.asdict(device),
                "torch": str(torch.__version__),
                "seconds": round(time.monotonic() - started, 1),
                "shape": dataclasses.asdict(shape),
                "kv_pool_tokens": run.pool.capacity_tokens,
                "native_gqa_attention": llama_model.native_gqa_in_use(),
                "elementwise": elementwise.name,
                "points": run.points,
                "skipped": run.skipped,
            },
        )
    print(
        f"wrote {args.out}: {len(prefill)} prefill, {len(decode)} decode, {len(mixed)} mixed "
        f"points; skipped {len(run.skipped)}; {time.monotonic() - started:.0f} s",
        flush=True,
    )
    if not args.no_overhead:
        _measure_overhead(run, args)
    return 0


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="profile JSON to write")
    parser.add_argument("--results", default="", help="run metadata JSON to write (optional)")
    parser.add_argument("--name", required=True, help="profile name, e.g. h200-llama3-8b")
    parser.add_argument("--shape", choices=sorted(llama_model.SHAPES), default="llama-3-8b")
    parser.add_argument("--layers", type=int, default=0, help="override the shape's depth")
    parser.add_argument(
        "--cpu-overhead-ms",
        type=float,
        default=None,
        help="per-step CPU overhead to record instead of measuring it",
    )
    parser.add_argument(
        "--elementwise",
        choices=("compiled", "eager"),
        default="compiled",
        help="fuse the element-wise stages with torch.compile (as engines fuse them), or not",
    )
    parser.add_argument("--budget-s", type=float, default=600.0, help="stop measuring after")
    parser.add_argument("--pool-tokens", type=int, default=0, help="KV pool size (default: fill)")
    parser.add_argument(
        "--overhead-only",
        action="store_true",
        help="measure the CPU overhead and kernel floor into the profile already at --out",
    )
    parser.add_argument(
        "--no-overhead", action="store_true", help="measure the points only (see --overhead-only)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the points of the --results file of an earlier run; measure the rest",
    )
    parser.add_argument("--quick", action="store_true", help="a few points only: a smoke run")
    parser.add_argument("--tiny", action="store_true", help="a tiny model: checks the script")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
