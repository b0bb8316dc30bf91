"""The workload kinds the co-location collector runs, and how a worker process builds them.

LLM kinds (decode, prefill) run a reduced-depth model of the Llama-3-8B shape, so that three
workers, each with its own weights, KV cache and CUDA graphs, fit on one 80 GB GPU beside two
fine-tuning workers. Their steps are graph replays, as a serving engine runs them. The fine-tuning
kind trains LoRA adapters on a Llama-3.2-1B-shaped model. `idle` runs nothing: its co-runners share
the GPU with a resident but inactive process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import llama_model
import lora_finetune
import torch

Family = Literal["decode", "prefill", "lora", "idle"]
WorkerFamily = Literal["llm", "lora"]


@dataclasses.dataclass(frozen=True)
class WorkloadKind:
    """One workload kind; `heldout` kinds are meant to be kept out of a predictor's training."""

    name: str
    family: Family
    batch: int = 0
    context: int = 0
    prompt_tokens: int = 0
    heldout: bool = False

    @property
    def worker_family(self) -> WorkerFamily | None:
        """The kind of worker process that runs it (None for idle, which needs none)."""
        if self.family in ("decode", "prefill"):
            return "llm"
        if self.family == "lora":
            return "lora"
        return None

    def plan(self) -> llama_model.StepPlan:
        if self.family == "decode":
            return llama_model.StepPlan(decode_batch=self.batch, decode_context=self.context)
        if self.family == "prefill":
            return llama_model.StepPlan(prefill_tokens=self.prompt_tokens)
        raise ValueError(f"workload kind {self.name!r} is not an LLM step; it has no step plan")


def _decode(batch: int, context: int, *, heldout: bool = False) -> WorkloadKind:
    return WorkloadKind(
        f"decode_b{batch}_c{context}", "decode", batch=batch, context=context, heldout=heldout
    )


def _prefill(tokens: int) -> WorkloadKind:
    return WorkloadKind(f"prefill_{tokens}", "prefill", prompt_tokens=tokens)


CATALOGUE: tuple[WorkloadKind, ...] = (
    _decode(8, 1024),
    _decode(32, 1024),
    _decode(128, 1024),
    _decode(32, 4096),
    _decode(64, 2048, heldout=True),
    _prefill(512),
    _prefill(2048),
    _prefill(8192),
    WorkloadKind("lora_ft_1b", "lora", batch=4, prompt_tokens=512, heldout=True),
    WorkloadKind("idle", "idle"),
)
QUICK_KIND_NAMES = ("decode_b32_c1024", "prefill_2048", "lora_ft_1b", "idle")
LORA_SHAPE = llama_model.LLAMA32_1B
LORA_SETTINGS = lora_finetune.LoraSettings()


def kinds_named(names: tuple[str, ...]) -> tuple[WorkloadKind, ...]:
    """Catalogue entries by name, in catalogue order; an unknown name raises ValueError."""
    known = {kind.name: kind for kind in CATALOGUE}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown workload kinds {unknown}; known: {sorted(known)}")
    return tuple(kind for kind in CATALOGUE if kind.name in names)


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What one worker process builds: every kind of its family, so it can run any of them."""

    family: WorkerFamily
    kinds: tuple[WorkloadKind, ...]
    llm_layers: int
    seed: int


Runner = Callable[[], object]


def build_runners(
    spec: WorkerSpec, device: torch.device
) -> tuple[dict[str, Runner], dict[str, int]]:
    """Build one step runner per kind of the worker's family, plus a few sizes for the record.

    A runner enqueues one step; the caller synchronizes to learn when it finished.
    """
    if spec.family == "lora":
        trainer = lora_finetune.LoraTrainer(
            LORA_SHAPE, LORA_SETTINGS, device=device, seed=spec.seed
        )
        sizes = {
            "weights_bytes": trainer.base.nbytes(),
            "trainable_parameters": trainer.trainable_parameters(),
        }
        return {kind.name: trainer.step for kind in spec.kinds}, sizes
    shape = llama_model.LLAMA3_8B.with_layers(spec.llm_layers)
    weights = llama_model.random_weights(shape, device=device, seed=spec.seed)
    plans = {kind.name: kind.plan() for kind in spec.kinds}
    capacity = max(plan.kv_tokens for plan in plans.values())
    pool = llama_model.KVPool(shape, capacity_tokens=capacity, device=device)
    positions = max(max(p.prefill_tokens, p.decode_context + 1) for p in plans.values())
    rotations = llama_model.rope_table(shape, positions=positions, device=device)
    runners: dict[str, Runner] = {}
    for name, plan in plans.items():
        step = llama_model.build_step(weights, shape, plan, pool=pool, rotations=rotations)
        runners[name] = llama_model.capture(step).replay
    sizes = {
        "weights_bytes": weights.nbytes(),
        "kv_pool_bytes": capacity * shape.kv_bytes_per_token,
    }
    return runners, sizes
