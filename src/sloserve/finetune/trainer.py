"""The simulated LoRA training loop: steps timed by the measured step costs, on an injected clock.

A step takes the table's time for the current micro-batch (times the slowdown the job suffers
beside inference); at a share `s` of GPU time the trainer then idles `step · (1/s − 1)`, which is
how the measured duty cycles were run and how a throttled worker yields the GPU. Nothing here
reads wall time or sleeps: the owner calls `advance(now)` and the trainer completes the steps
that ended by then. Changes of share or micro-batch apply from the next step, as a real worker
applies them between steps.

Checkpoints hold the step counter, tokens trained and last loss (`CheckpointStore`: one JSON
file in a directory, replaced atomically); a trainer started on a directory with a checkpoint
resumes from its step, so a job paused, moved or evicted loses no checkpointed step. Pausing
checkpoints first.
"""

from __future__ import annotations

import collections
import enum
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from sloserve.finetune.step_costs import StepCostTable

__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "SimulatedTrainer",
    "TrainerSettings",
    "TrainerState",
    "TrainerStatus",
]

CHECKPOINT_FILE = "checkpoint.json"
#: Tokens-per-second is averaged over the steps that ended in this many seconds.
RATE_WINDOW_S = 10.0


class TrainerState(enum.StrEnum):
    """What the trainer is doing."""

    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainerSettings:
    """One job's training loop; `share` is its duty cycle, in (0, 1]."""

    total_steps: int
    micro_batch: int
    seq_len: int
    rank: int = 16
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    share: float = 1.0
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        if self.total_steps < 1 or self.micro_batch < 1 or self.seq_len < 1:
            raise ValueError("total_steps, micro_batch and seq_len must each be at least 1")
        _check_share(self.share)
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be at least 1, got {self.checkpoint_every}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """What a resumed trainer starts from."""

    step: int
    tokens: int
    loss: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainerStatus:
    """A snapshot for the control endpoint, the metrics and the FineTuneJob's status."""

    state: TrainerState
    completed_steps: int
    total_steps: int
    checkpoint_step: int
    tokens: int
    tokens_per_s: float
    loss: float | None
    share: float
    micro_batch: int


class CheckpointStore:
    """One checkpoint file in `directory`, written by replacing it whole (never half-written)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def path(self) -> Path:
        """The checkpoint file."""
        return self.directory / CHECKPOINT_FILE

    def load(self) -> Checkpoint | None:
        """The last checkpoint, or None when there is none yet."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as error:
            raise ValueError(f"{self.path} is not a checkpoint: {error}") from error
        return Checkpoint(
            step=int(document["step"]), tokens=int(document["tokens"]), loss=document.get("loss")
        )

    def save(self, checkpoint: Checkpoint) -> None:
        """Write `checkpoint`, replacing the previous one atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(
            json.dumps(
                {"step": checkpoint.step, "tokens": checkpoint.tokens, "loss": checkpoint.loss}
            ),
            encoding="utf-8",
        )
        os.replace(partial, self.path)


class SimulatedTrainer:
    """A training loop without a GPU, timed by `costs`. Not thread-safe: one owner drives it."""

    def __init__(
        self,
        settings: TrainerSettings,
        costs: StepCostTable,
        *,
        now_s: float,
        store: CheckpointStore | None = None,
        slowdown: float = 1.0,
    ) -> None:
        self._settings = settings
        self._costs = costs
        self._store = store
        self._slowdown = slowdown
        resumed = store.load() if store is not None else None
        self._steps = 0 if resumed is None else min(resumed.step, settings.total_steps)
        self._tokens = 0 if resumed is None else resumed.tokens
        self._loss = None if resumed is None else resumed.loss
        self._checkpoint_step = self._steps
        self._state = TrainerState.RUNNING
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._now_s = now_s
        self._step_end_s = now_s + self._step_s()
        if self._steps >= settings.total_steps:
            self._state = TrainerState.DONE

    @property
    def settings(self) -> TrainerSettings:
        """The settings in force (share and micro-batch as last set)."""
        return self._settings

    def advance(self, now_s: float) -> int:
        """Complete the steps that ended by `now_s`; returns how many."""
        if now_s < self._now_s:
            raise ValueError(f"time went backwards: {now_s} after {self._now_s}")
        done = 0
        while self._state is TrainerState.RUNNING and self._step_end_s <= now_s:
            self._complete_step(self._step_end_s)
            done += 1
            idle_s = self._step_s() * (1.0 / self._settings.share - 1.0)
            self._step_end_s += idle_s + self._step_s()
        self._now_s = now_s
        return done

    def pause(self, now_s: float) -> None:
        """Stop stepping after checkpointing; the step in flight is dropped (not counted)."""
        self.advance(now_s)
        if self._state is TrainerState.RUNNING:
            self._checkpoint()
            self._state = TrainerState.PAUSED

    def resume(self, now_s: float) -> None:
        """Step again from now."""
        self.advance(now_s)
        if self._state is TrainerState.PAUSED:
            self._state = TrainerState.RUNNING
            self._step_end_s = now_s + self._step_s()

    def set_share(self, share: float) -> None:
        """The duty cycle from the next step on."""
        _check_share(share)
        self._settings = replace(self._settings, share=share)

    def set_micro_batch(self, micro_batch: int) -> None:
        """The micro-batch from the next step on."""
        if micro_batch < 1:
            raise ValueError(f"micro_batch must be at least 1, got {micro_batch}")
        self._settings = replace(self._settings, micro_batch=micro_batch)

    def set_slowdown(self, slowdown: float) -> None:
        """How much inference beside the job slows its steps, from the next step on."""
        if not slowdown > 0 or not math.isfinite(slowdown):
            raise ValueError(f"slowdown must be a finite number above zero, got {slowdown!r}")
        self._slowdown = slowdown

    def status(self) -> TrainerStatus:
        """A snapshot at the last `advance`."""
        horizon = self._now_s - RATE_WINDOW_S
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
        tokens = sum(count for _, count in self._recent)
        return TrainerStatus(
            state=self._state,
            completed_steps=self._steps,
            total_steps=self._settings.total_steps,
            checkpoint_step=self._checkpoint_step,
            tokens=self._tokens,
            tokens_per_s=tokens / RATE_WINDOW_S,
            loss=self._loss,
            share=self._settings.share,
            micro_batch=self._settings.micro_batch,
        )

    def _step_s(self) -> float:
        cost = self._costs.step(
            micro_batch=self._settings.micro_batch,
            seq_len=self._settings.seq_len,
            rank=self._settings.rank,
            targets=self._settings.targets,
        )
        return cost.step_s * self._slowdown

    def _complete_step(self, at_s: float) -> None:
        tokens = self._settings.micro_batch * self._settings.seq_len
        self._steps += 1
        self._tokens += tokens
        self._loss = synthetic_loss(self._tokens)
        self._recent.append((at_s, tokens))
        if self._steps % self._settings.checkpoint_every == 0:
            self._checkpoint()
        if self._steps >= self._settings.total_steps:
            self._checkpoint()
            self._state = TrainerState.DONE

    def _checkpoint(self) -> None:
        if self._store is not None:
            self._store.save(Checkpoint(step=self._steps, tokens=self._tokens, loss=self._loss))
        self._checkpoint_step = self._steps


def synthetic_loss(tokens: int) -> float:
    """A loss curve for the simulated worker (no model is trained): from about 11.8, the
    cross-entropy of random weights over a 128k vocabulary, down toward 2 as tokens are seen."""
    return round(2.0 + 9.8 * math.exp(-tokens / 2_000_000), 4)


def _check_share(share: float) -> None:
    if not 0 < share <= 1 or not math.isfinite(share):
        raise ValueError(f"share must be in (0, 1], got {share!r}")
