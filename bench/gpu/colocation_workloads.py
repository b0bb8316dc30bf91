"""The workload kinds the co-location collector runs, and how a worker process builds them.

LLM kinds (decode, prefill, mixed chunked-prefill) run a decoder of the Llama-3-8B shape at the
depth the pass asks for (8 layers for the dataset, so that four LLM workers, each with its own
weights, KV cache and CUDA graphs, fit on one GPU beside two fine-tuning workers; the full 32 for
the fine-tuning-beside-inference tables). Their steps are graph replays, as a serving engine runs
them. Encoder kinds embed batches with a BERT-shaped encoder (graph replays too), in the same LLM
workers. Fine-tuning kinds train LoRA adapters on a Llama-3.2-1B-shaped model: `lora` with the
hand-written adapters of `lora_finetune.py`, `peft` with transformers + PEFT (`peft_finetune.py`).
A fine-tuning kind may be throttled to a duty cycle: after each step of d seconds its worker
idles d·(1/duty − 1), as a throttled fine-tuning worker would. `idle` runs nothing: its
co-runners share the GPU with a resident but inactive process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import encoder_model
import llama_model
import lora_finetune
import torch

Family = Literal["decode", "prefill", "mixed", "encoder", "lora", "peft", "idle"]
WorkerFamily = Literal["llm", "lora"]


@dataclasses.dataclass(frozen=True)
class WorkloadKind:
    """One workload kind; `heldout` kinds are meant to be kept out of a predictor's training.

    batch/context/prompt_tokens: the decode batch and its context, the prompt (prefill) chunk;
    for encoder kinds the batch and sequence length (in `prompt_tokens`); for fine-tuning kinds
    the micro-batch, the sequence length (in `prompt_tokens`) and the adapter `rank`.
    """

    name: str
    family: Family
    batch: int = 0
    context: int = 0
    prompt_tokens: int = 0
    rank: int = 0
    duty: float = 1.0
    heldout: bool = False

    @property
    def worker_family(self) -> WorkerFamily | None:
        """The kind of worker process that runs it (None for idle, which needs none)."""
        if self.family in ("decode", "prefill", "mixed", "encoder"):
            return "llm"
        if self.family in ("lora", "peft"):
            return "lora"
        return None

    @property
    def runner_key(self) -> tuple[object, ...]:
        """Kinds with the same key share one runner (duty-cycle variants of one trainer)."""
        return (self.family, self.batch, self.context, self.prompt_tokens, self.rank)

    def plan(self) -> llama_model.StepPlan:
        if self.family == "decode":
            return llama_model.StepPlan(decode_batch=self.batch, decode_context=self.context)
        if self.family == "prefill":
            return llama_model.StepPlan(prefill_tokens=self.prompt_tokens)
        if self.family == "mixed":
            return llama_model.StepPlan(
                prefill_tokens=self.prompt_tokens,
                decode_batch=self.batch,
                decode_context=self.context,
            )
        raise ValueError(f"workload kind {self.name!r} is not an LLM step; it has no step plan")

    def describe(self) -> dict[str, object]:
        return {
            "family": self.family,
            "batch": self.batch,
            "context": self.context,
            "prompt_tokens": self.prompt_tokens,
            "rank": self.rank,
            "duty": self.duty,
            "heldout": self.heldout,
        }


def _decode(batch: int, context: int, *, heldout: bool = False) -> WorkloadKind:
    return WorkloadKind(
        f"decode_b{batch}_c{context}", "decode", batch=batch, context=context, heldout=heldout
    )


def _prefill(tokens: int) -> WorkloadKind:
    return WorkloadKind(f"prefill_{tokens}", "prefill", prompt_tokens=tokens)


def _mixed(tokens: int, batch: int, context: int, *, heldout: bool = False) -> WorkloadKind:
    return WorkloadKind(
        f"mixed_p{tokens}_b{batch}_c{context}",
        "mixed",
        batch=batch,
        context=context,
        prompt_tokens=tokens,
        heldout=heldout,
    )


def _encoder(batch: int, seq_len: int, *, heldout: bool = False) -> WorkloadKind:
    return WorkloadKind(
        f"encode_b{batch}_s{seq_len}",
        "encoder",
        batch=batch,
        prompt_tokens=seq_len,
        heldout=heldout,
    )


def _peft(
    batch: int, seq_len: int, *, rank: int = 16, duty: float = 1.0, heldout: bool = False
) -> WorkloadKind:
    suffix = "" if duty == 1.0 else f"_d{round(duty * 100)}"
    return WorkloadKind(
        f"peft_1b_b{batch}_s{seq_len}_r{rank}{suffix}",
        "peft",
        batch=batch,
        prompt_tokens=seq_len,
        rank=rank,
        duty=duty,
        heldout=heldout,
    )


# The H100 dataset's kinds first (same names, same shapes), then the kinds added on the H200.
CATALOGUE: tuple[WorkloadKind, ...] = (
    _decode(8, 1024),
    _decode(32, 1024),
    _decode(128, 1024),
    _decode(32, 4096),
    _decode(64, 2048, heldout=True),
    _prefill(512),
    _prefill(2048),
    _prefill(8192),
    WorkloadKind("lora_ft_1b", "lora", batch=4, prompt_tokens=512, rank=16, heldout=True),
    WorkloadKind("idle", "idle"),
    _decode(8, 16384),
    _decode(16, 8192, heldout=True),
    _mixed(512, 32, 1024),
    _mixed(2048, 64, 1024, heldout=True),
    _encoder(64, 256),
    _encoder(16, 512, heldout=True),
    _peft(4, 512),
    _peft(1, 2048, rank=64, heldout=True),
)
# Fine-tuning beside inference: inference kinds of the full-depth model, and one PEFT job at
# several duty cycles (plus a larger micro-batch unthrottled).
FINETUNE_INFERENCE = (
    _decode(32, 1024),
    _decode(128, 1024),
    _prefill(2048),
    _mixed(512, 32, 1024),
)
FINETUNE_JOBS = (
    _peft(4, 512),
    _peft(4, 512, duty=0.5),
    _peft(4, 512, duty=0.25),
    _peft(4, 512, duty=0.1),
    _peft(8, 1024),
)
FINETUNE_CATALOGUE = FINETUNE_INFERENCE + FINETUNE_JOBS
H100_KIND_NAMES = tuple(kind.name for kind in CATALOGUE[:10])
QUICK_KIND_NAMES = (
    "decode_b32_c1024",
    "mixed_p512_b32_c1024",
    "encode_b64_s256",
    "lora_ft_1b",
    "peft_1b_b4_s512_r16",
    "idle",
)
LORA_SHAPE = llama_model.LLAMA32_1B
LORA_SETTINGS = lora_finetune.LoraSettings()
ENCODER_SHAPE = encoder_model.BGE_BASE


def kinds_named(
    names: tuple[str, ...], catalogue: tuple[WorkloadKind, ...] = CATALOGUE
) -> tuple[WorkloadKind, ...]:
    """Catalogue entries by name, in catalogue order; an unknown name raises ValueError."""
    known = {kind.name: kind for kind in catalogue}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown workload kinds {unknown}; known: {sorted(known)}")
    return tuple(kind for kind in catalogue if kind.name in names)


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What one worker process builds: every kind of its family, so it can run any of them."""

    family: WorkerFamily
    kinds: tuple[WorkloadKind, ...]
    llm_layers: int
    seed: int
    tiny: bool = False


Runner = Callable[[], object]


def build_runners(
    spec: WorkerSpec, device: torch.device
) -> tuple[dict[str, Runner], dict[str, int]]:
    """Build one step runner per kind of the worker's family, plus a few sizes for the record.

    A runner enqueues one step; the caller synchronizes to learn when it finished. Kinds with the
    same `runner_key` share one runner.
    """
    if spec.family == "lora":
        return _fine_tuning_runners(spec, device)
    return _llm_runners(spec, device)


def _fine_tuning_runners(
    spec: WorkerSpec, device: torch.device
) -> tuple[dict[str, Runner], dict[str, int]]:
    import peft_finetune

    by_key: dict[tuple[object, ...], Runner] = {}
    sizes = {"weights_bytes": 0, "trainable_parameters": 0}
    runners: dict[str, Runner] = {}
    for kind in spec.kinds:
        runner = by_key.get(kind.runner_key)
        if spec.tiny:
            kind = dataclasses.replace(kind, batch=1, prompt_tokens=min(kind.prompt_tokens, 32))
        if runner is None:
            if kind.family == "lora":
                shape = _tiny_decoder() if spec.tiny else LORA_SHAPE
                settings = lora_finetune.LoraSettings(
                    rank=kind.rank, batch=kind.batch, seq_len=kind.prompt_tokens
                )
                trainer = lora_finetune.LoraTrainer(shape, settings, device=device, seed=spec.seed)
                sizes["weights_bytes"] += trainer.base.nbytes()
                sizes["trainable_parameters"] += trainer.trainable_parameters()
                runner = trainer.step
            else:
                peft_trainer = peft_finetune.PeftTrainer(
                    peft_finetune.PeftSettings(
                        rank=kind.rank,
                        alpha=2.0 * kind.rank,
                        micro_batch=kind.batch,
                        seq_len=kind.prompt_tokens,
                    ),
                    device=device,
                    seed=spec.seed,
                    shape=peft_finetune.TINY if spec.tiny else peft_finetune.LLAMA32_1B,
                )
                sizes["trainable_parameters"] += peft_trainer.trainable_parameters()
                runner = peft_trainer.step
            by_key[kind.runner_key] = runner
        runners[kind.name] = runner
    return runners, sizes


def _tiny_decoder() -> llama_model.DecoderShape:
    return dataclasses.replace(
        llama_model.LLAMA3_8B,
        layers=2,
        hidden=256,
        heads=4,
        kv_heads=2,
        intermediate=512,
        vocab=1024,
    )


def _llm_runners(
    spec: WorkerSpec, device: torch.device
) -> tuple[dict[str, Runner], dict[str, int]]:
    shape = _tiny_decoder() if spec.tiny else llama_model.LLAMA3_8B.with_layers(spec.llm_layers)
    runners: dict[str, Runner] = {}
    sizes: dict[str, int] = {}
    step_kinds = [kind for kind in spec.kinds if kind.family != "encoder"]
    if step_kinds:
        weights = llama_model.random_weights(shape, device=device, seed=spec.seed)
        plans = {kind.name: kind.plan() for kind in step_kinds}
        capacity = max(plan.kv_tokens for plan in plans.values())
        pool = llama_model.KVPool(shape, capacity_tokens=capacity, device=device)
        positions = max(max(p.prefill_tokens, p.decode_context + 1) for p in plans.values())
        rotations = llama_model.rope_table(shape, positions=positions, device=device)
        for name, plan in plans.items():
            step = llama_model.build_step(weights, shape, plan, pool=pool, rotations=rotations)
            runners[name] = llama_model.capture(step).replay
        sizes |= {
            "weights_bytes": weights.nbytes(),
            "kv_pool_bytes": capacity * shape.kv_bytes_per_token,
        }
    encoder_kinds = [kind for kind in spec.kinds if kind.family == "encoder"]
    if encoder_kinds:
        encoder_shape = (
            dataclasses.replace(ENCODER_SHAPE, layers=2, hidden=64, heads=2, intermediate=128)
            if spec.tiny
            else ENCODER_SHAPE
        )
        encoder = encoder_model.random_weights(encoder_shape, device=device, seed=spec.seed)
        for kind in encoder_kinds:
            step = encoder_model.build_step(
                encoder, encoder_shape, batch=kind.batch, seq_len=kind.prompt_tokens
            )
            runners[kind.name] = llama_model.capture(step).replay
        sizes["encoder_weights_bytes"] = encoder.nbytes()
    return runners, sizes
