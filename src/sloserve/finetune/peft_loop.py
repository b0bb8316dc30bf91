"""The real LoRA training loop: transformers' causal LM wrapped with PEFT adapters, AdamW.

Needs the `finetune` extra (torch, transformers, peft); nothing here is imported until a worker
runs with `--mode peft`, so the package works without them. The loop has the simulated
trainer's interface (`advance`, `pause`, `resume`, `set_share`, `set_micro_batch`, `status`),
so the worker drives both the same way: `advance(now)` runs the real steps that are due by
`now` (one step, then an idle of `step · (1/share − 1)` before the next is due).

Checkpoints: the adapter (`save_pretrained` into `adapter/` of the checkpoint directory) and the
step counter (`CheckpointStore`); a loop started on a directory with both resumes the adapter's
weights and the step count. The optimizer's moments are not saved: a resumed job restarts AdamW
from zero moments, which costs a few steps of warm-up, not completed steps.

The training data: token ids from a JSON-lines file (`{"text": ...}` per line, tokenized with the
model's tokenizer) or, without one, random tokens (the step-cost measurements' setting).
"""

from __future__ import annotations

import collections
import importlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from sloserve.finetune.trainer import (
    RATE_WINDOW_S,
    Checkpoint,
    CheckpointStore,
    TrainerSettings,
    TrainerState,
    TrainerStatus,
)

__all__ = ["MissingExtraError", "NoGpuError", "PeftTrainer", "choose_device", "require_extra"]

ADAPTER_DIR = "adapter"


class MissingExtraError(RuntimeError):
    """torch, transformers or peft is not installed."""


class NoGpuError(RuntimeError):
    """The real loop was asked to train on a GPU and none is usable."""


def choose_device(torch: Any, *, allow_cpu: bool) -> str:
    """`cuda` when torch sees a GPU it can allocate on; else `cpu` if `allow_cpu`, else
    `NoGpuError` saying what to do. The real loop never falls back to the CPU on its own: a
    worker that trains at a hundredth of the measured rate would hold a job's share while
    delivering nothing, and the operator would not know why."""
    problem = "torch sees no CUDA device (torch.cuda.is_available() is False)"
    if torch.cuda.is_available():
        try:
            torch.zeros(1, device="cuda")
            return "cuda"
        except RuntimeError as error:  # a GPU the driver lists but cannot use (busy, lost)
            problem = f"the CUDA device is not usable: {error}"
    if allow_cpu:
        return "cpu"
    raise NoGpuError(
        f"the real training loop needs a GPU, and {problem}: give the worker pod a GPU "
        "(the FineTuneJob's spec.gpuBudget.gpus, on a node with NVIDIA's device plugin), or pass "
        "--allow-cpu to train on the CPU (tests only), or run with --mode sim"
    )


def require_extra() -> tuple[Any, Any, Any]:
    """torch, transformers and peft, imported now; `MissingExtraError` says how to install them."""
    modules = []
    for name in ("torch", "transformers", "peft"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError as error:
            raise MissingExtraError(
                f"the real training loop needs {name}: install the extra with "
                "`pip install 'sloserve[finetune]'`, or run the worker with --mode sim"
            ) from error
    return modules[0], modules[1], modules[2]


class PeftTrainer:
    """A PEFT LoRA loop on `model` (a hub id or a local path). Not thread-safe."""

    def __init__(
        self,
        settings: TrainerSettings,
        *,
        model: str,
        now_s: float,
        store: CheckpointStore,
        alpha: float | None = None,
        learning_rate: float = 2e-4,
        data_file: Path | None = None,
        device: str | None = None,
        allow_cpu: bool = False,
        seed: int = 0,
    ) -> None:
        torch, transformers, peft = require_extra()
        self._torch = torch
        self._settings = settings
        self._store = store
        torch.manual_seed(seed)
        self._device = torch.device(device or choose_device(torch, allow_cpu=allow_cpu))
        base = transformers.AutoModelForCausalLM.from_pretrained(model).to(self._device)
        adapter_dir = store.directory / ADAPTER_DIR
        resumed = store.load()
        if resumed is not None and adapter_dir.exists():
            self._model = peft.PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=True)
        else:
            resumed = None
            config = peft.LoraConfig(
                r=settings.rank,
                lora_alpha=alpha if alpha is not None else 2.0 * settings.rank,
                target_modules=list(settings.targets),
                lora_dropout=0.0,
                bias="none",
                task_type="CAUSAL_LM",
            )
            self._model = peft.get_peft_model(base, config)
        self._model.train()
        trainable = [p for p in self._model.parameters() if p.requires_grad]
        self._optimizer = torch.optim.AdamW(
            trainable, lr=learning_rate, fused=self._device.type == "cuda"
        )
        self._vocab = int(base.config.vocab_size)
        self._tokens_source = _token_stream(model, data_file, transformers)
        self._generator = torch.Generator(device="cpu").manual_seed(seed + 1)
        self._steps = 0 if resumed is None else resumed.step
        self._tokens = 0 if resumed is None else resumed.tokens
        self._loss = None if resumed is None else resumed.loss
        self._checkpoint_step = self._steps
        self._state = (
            TrainerState.DONE if self._steps >= settings.total_steps else TrainerState.RUNNING
        )
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._now_s = now_s
        self._next_start_s = now_s

    def trainable_parameters(self) -> int:
        """Parameters the optimizer updates (the adapters')."""
        return sum(p.numel() for p in self._model.parameters() if p.requires_grad)

    def advance(self, now_s: float) -> int:
        """Run the steps due by `now_s` (at most one per call: a step takes real time)."""
        self._now_s = max(self._now_s, now_s)
        if self._state is not TrainerState.RUNNING or now_s < self._next_start_s:
            return 0
        started = time.perf_counter()
        self._loss = self._step()
        step_s = time.perf_counter() - started
        tokens = self._settings.micro_batch * self._settings.seq_len
        self._steps += 1
        self._tokens += tokens
        self._recent.append((now_s + step_s, tokens))
        self._next_start_s = now_s + step_s / self._settings.share
        if self._steps % self._settings.checkpoint_every == 0:
            self._checkpoint()
        if self._steps >= self._settings.total_steps:
            self._checkpoint()
            self._state = TrainerState.DONE
        return 1

    def pause(self, now_s: float) -> None:
        """Checkpoint, then stop stepping."""
        if self._state is TrainerState.RUNNING:
            self._checkpoint()
            self._state = TrainerState.PAUSED

    def resume(self, now_s: float) -> None:
        """Step again from now."""
        if self._state is TrainerState.PAUSED:
            self._state = TrainerState.RUNNING
            self._next_start_s = now_s

    def set_share(self, share: float) -> None:
        """The duty cycle from the next step on."""
        self._settings = replace(self._settings, share=share)

    def set_micro_batch(self, micro_batch: int) -> None:
        """The micro-batch from the next step on."""
        self._settings = replace(self._settings, micro_batch=micro_batch)

    def status(self) -> TrainerStatus:
        """A snapshot at the last `advance`."""
        horizon = self._now_s - RATE_WINDOW_S
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
        return TrainerStatus(
            state=self._state,
            completed_steps=self._steps,
            total_steps=self._settings.total_steps,
            checkpoint_step=self._checkpoint_step,
            tokens=self._tokens,
            tokens_per_s=sum(count for _, count in self._recent) / RATE_WINDOW_S,
            loss=self._loss,
            share=self._settings.share,
            micro_batch=self._settings.micro_batch,
        )

    def _step(self) -> float:
        torch = self._torch
        size = (self._settings.micro_batch, self._settings.seq_len)
        if self._tokens_source is None:
            batch = torch.randint(self._vocab, size, generator=self._generator)
        else:
            batch = torch.tensor(
                [self._tokens_source.take(self._settings.seq_len) for _ in range(size[0])]
            )
        batch = batch.to(self._device)
        loss = self._model(input_ids=batch, labels=batch).loss
        loss.backward()
        self._optimizer.step()
        self._optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def _checkpoint(self) -> None:
        self._model.save_pretrained(str(self._store.directory / ADAPTER_DIR))
        self._store.save(Checkpoint(step=self._steps, tokens=self._tokens, loss=self._loss))
        self._checkpoint_step = self._steps


class _TokenStream:
    """Token ids of a JSON-lines file's texts, read in a loop."""

    def __init__(self, ids: list[int]) -> None:
        if not ids:
            raise ValueError("the data file holds no text")
        self._ids = ids
        self._at = 0

    def take(self, count: int) -> list[int]:
        out: list[int] = []
        while len(out) < count:
            chunk = self._ids[self._at : self._at + count - len(out)]
            out.extend(chunk)
            self._at = (self._at + len(chunk)) % len(self._ids)
        return out


def _token_stream(model: str, data_file: Path | None, transformers: Any) -> _TokenStream | None:
    if data_file is None:
        return None
    import json

    tokenizer = transformers.AutoTokenizer.from_pretrained(model)
    ids: list[int] = []
    for number, line in enumerate(data_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            text = json.loads(line)["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(
                f'{data_file}:{number}: each line must be a JSON object with a "text" field'
            ) from error
        ids.extend(tokenizer(text)["input_ids"])
    return _TokenStream(ids)
