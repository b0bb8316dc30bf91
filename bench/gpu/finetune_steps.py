"""Measure what one LoRA fine-tuning step costs alone on this GPU, by micro-batch, length and rank.

    python bench/gpu/finetune_steps.py --out OUT/finetune_steps.json

The training loop is `peft_finetune.PeftTrainer` (transformers' LlamaForCausalLM of the
Llama-3.2-1B shape with random bf16 weights, PEFT LoRA adapters, AdamW). For each setting the
trainer runs two warm-up steps, then steps back to back, each ended by reading the loss (a device
sync), for about `--seconds-per-point`; the median wall time per step, tokens per second and the
peak GPU memory are recorded. Settings that run out of memory are recorded as skipped. One base
model is built per run and re-wrapped for each setting.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gpu_metrics
import peft_finetune
import torch

MICRO_BATCHES = (1, 2, 4, 8)
SEQ_LENS = (256, 512, 1024, 2048)
RANK = 16
# Other ranks (and all-linear targets) at two settings.
RANK_POINTS = ((8, 4, 512), (64, 4, 512), (8, 1, 2048), (64, 1, 2048))
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SCHEMA = "sloserve.finetune-steps/v1"


def settings_to_run(quick: bool) -> list[peft_finetune.PeftSettings]:
    if quick:
        return [
            peft_finetune.PeftSettings(rank=16, alpha=32, micro_batch=1, seq_len=64),
            peft_finetune.PeftSettings(rank=8, alpha=16, micro_batch=2, seq_len=64),
        ]
    grid = peft_finetune.settings_grid(MICRO_BATCHES, SEQ_LENS, (RANK,))
    grid += [
        peft_finetune.PeftSettings(rank=rank, alpha=2.0 * rank, micro_batch=batch, seq_len=seq)
        for rank, batch, seq in RANK_POINTS
    ]
    grid.append(
        peft_finetune.PeftSettings(
            rank=16, alpha=32, micro_batch=4, seq_len=512, targets=ALL_LINEAR
        )
    )
    return grid


def measure(
    settings: peft_finetune.PeftSettings,
    base: torch.nn.Module,
    *,
    device: torch.device,
    seconds: float,
) -> tuple[dict[str, Any], torch.nn.Module]:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = peft_finetune.PeftTrainer(
        settings, device=device, seed=0, base=base, shape=_shape_of(base)
    )
    for _ in range(2):
        trainer.step()
    times: list[float] = []
    budget_end = time.monotonic() + seconds
    while len(times) < 3 or (time.monotonic() < budget_end and len(times) < 200):
        began = time.perf_counter()
        loss = trainer.step()
        times.append((time.perf_counter() - began) * 1e3)
    median = statistics.median(times)
    record = {
        "rank": settings.rank,
        "alpha": settings.alpha,
        "micro_batch": settings.micro_batch,
        "seq_len": settings.seq_len,
        "targets": list(settings.targets),
        "tokens_per_step": settings.tokens_per_step,
        "trainable_parameters": trainer.trainable_parameters(),
        "step_ms_median": round(median, 3),
        "step_ms_p10": round(_quantile(times, 0.1), 3),
        "step_ms_p90": round(_quantile(times, 0.9), 3),
        "steps": len(times),
        "tokens_per_s": round(settings.tokens_per_step / (median / 1e3), 1),
        "peak_memory_bytes": torch.cuda.max_memory_allocated(device)
        if device.type == "cuda"
        else 0,
        "last_loss": round(loss, 4),
    }
    return record, trainer.remove()


def _shape_of(base: torch.nn.Module) -> peft_finetune.BaseShape:
    config = base.config  # type: ignore[union-attr]
    return peft_finetune.BaseShape(
        name="given",
        layers=config.num_hidden_layers,
        hidden=config.hidden_size,
        heads=config.num_attention_heads,
        kv_heads=config.num_key_value_heads,
        intermediate=config.intermediate_size,
        vocab=config.vocab_size,
    )


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds-per-point", type=float, default=1.5)
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="a tiny model: checks the script")
    args = parser.parse_args(argv)
    started = time.monotonic()
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    shape = peft_finetune.TINY if args.tiny else peft_finetune.LLAMA32_1B
    grid = settings_to_run(args.quick or args.tiny)
    base = peft_finetune.build_base(shape, device=device, seq_len=max(s.seq_len for s in grid))
    import peft
    import transformers

    info = gpu_metrics.device_info()
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "gpu": info.name,
        "driver": info.driver,
        "torch": str(torch.__version__),
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "base_model": {
            "shape": shape.name,
            "layers": shape.layers,
            "hidden": shape.hidden,
            "heads": shape.heads,
            "kv_heads": shape.kv_heads,
            "intermediate": shape.intermediate,
            "vocab": shape.vocab,
            "dtype": "bfloat16",
            "weights": "random (no checkpoint)",
        },
        "command": shlex.join(["python", "bench/gpu/finetune_steps.py", *(argv or sys.argv[1:])]),
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "method": "wall time per training step (forward with labels, backward, fused AdamW, "
        "zero grad, loss read back), median over the steps of about "
        f"{args.seconds_per_point} s after 2 warm-up steps",
        "points": [],
        "skipped": [],
    }
    out = Path(args.out)
    for settings in grid:
        if time.monotonic() - started > args.budget_s:
            document["skipped"].append(_describe(settings) | {"reason": "time budget spent"})
            continue
        try:
            record, base = measure(settings, base, device=device, seconds=args.seconds_per_point)
        except torch.cuda.OutOfMemoryError as error:
            document["skipped"].append(_describe(settings) | {"reason": str(error)[:200]})
            torch.cuda.empty_cache()
            continue
        document["points"].append(record)
        print(
            f"r{settings.rank} mb{settings.micro_batch} s{settings.seq_len} "
            f"{len(settings.targets)} targets: {record['step_ms_median']} ms/step, "
            f"{record['tokens_per_s']} tok/s",
            flush=True,
        )
        if device.type == "cuda":
            torch.cuda.empty_cache()
        document["seconds"] = round(time.monotonic() - started, 1)
        out.write_text(json.dumps(document, indent=1) + "\n")
    document["seconds"] = round(time.monotonic() - started, 1)
    out.write_text(json.dumps(document, indent=1) + "\n")
    return 0


def _describe(settings: peft_finetune.PeftSettings) -> dict[str, Any]:
    return {
        "rank": settings.rank,
        "micro_batch": settings.micro_batch,
        "seq_len": settings.seq_len,
        "targets": list(settings.targets),
    }


if __name__ == "__main__":
    raise SystemExit(main())
