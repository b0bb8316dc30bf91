"""What one LoRA training step costs on the GPU, from the measured H200 table.

The table (`tables/h200_lora_steps.json`, a copy of `data/finetune/finetune_steps_h200.json`)
holds the median wall time of one PEFT step on the Llama-3.2-1B shape: rank 16 on the attention
projections over micro-batch 1–8 × sequence 256–2048, plus ranks 8 and 64 and all-linear targets
at two settings. A setting in between is read off the grid by bilinear interpolation in
log2(micro-batch) × log2(sequence length); beyond the grid, the edge point is scaled by the
ratio of tokens (the large steps in the table are compute-bound: 8 × 2048 is 1.95× the time of
8 × 1024), and below it the step stays at the edge's time (small steps are bound by the host's
launch work, 60–110 ms whatever their size). Other ranks and targets scale the grid by the
ratio the table measured for them.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["H200_TABLE", "StepCost", "StepCostTable", "load_table"]

H200_TABLE = "h200_lora_steps.json"
_BASE_RANK = 16
_BASE_TARGETS = frozenset({"q_proj", "k_proj", "v_proj", "o_proj"})
_ALL_LINEAR = frozenset({*_BASE_TARGETS, "gate_proj", "up_proj", "down_proj"})


@dataclass(frozen=True, slots=True)
class StepCost:
    """One step of a setting: its wall time and the tokens it trains on."""

    step_s: float
    tokens: int

    @property
    def tokens_per_s(self) -> float:
        """Training tokens per second when steps run back to back."""
        return self.tokens / self.step_s


@dataclass(frozen=True, slots=True)
class _Point:
    rank: int
    micro_batch: int
    seq_len: int
    targets: frozenset[str]
    step_ms: float


class StepCostTable:
    """Step times by (micro-batch, sequence length, rank, targets), read off a measured table."""

    def __init__(self, document: dict[str, Any]) -> None:
        points = [
            _Point(
                rank=int(point["rank"]),
                micro_batch=int(point["micro_batch"]),
                seq_len=int(point["seq_len"]),
                targets=frozenset(point["targets"]),
                step_ms=float(point["step_ms_median"]),
            )
            for point in document["points"]
        ]
        self.gpu: str = str(document.get("gpu", "unknown"))
        self.shape: str = str(document.get("base_model", {}).get("shape", "unknown"))
        self._points = points
        grid = {
            (p.micro_batch, p.seq_len): p.step_ms
            for p in points
            if p.rank == _BASE_RANK and p.targets == _BASE_TARGETS
        }
        self._batches = sorted({batch for batch, _ in grid})
        self._lengths = sorted({length for _, length in grid})
        missing = [(b, s) for b in self._batches for s in self._lengths if (b, s) not in grid]
        if missing:
            raise ValueError(
                f"the step-cost table has no rank-{_BASE_RANK} point at (micro-batch, sequence) "
                f"{missing[0]}: the grid must be complete"
            )
        self._grid = grid

    def step(
        self,
        *,
        micro_batch: int,
        seq_len: int,
        rank: int = _BASE_RANK,
        targets: Sequence[str] = tuple(sorted(_BASE_TARGETS)),
    ) -> StepCost:
        """The cost of one step of this setting, alone on the GPU."""
        if micro_batch < 1 or seq_len < 1 or rank < 1:
            raise ValueError(
                f"micro_batch, seq_len and rank must be at least 1, got {micro_batch}, "
                f"{seq_len}, {rank}"
            )
        step_ms = self._grid_ms(micro_batch, seq_len) * self._rank_factor(rank)
        step_ms *= self._targets_factor(frozenset(targets))
        return StepCost(step_s=step_ms / 1000.0, tokens=micro_batch * seq_len)

    def _grid_ms(self, micro_batch: int, seq_len: int) -> float:
        batch, batch_scale = _clamp(micro_batch, self._batches)
        length, length_scale = _clamp(seq_len, self._lengths)
        x0, x1, wx = _bracket(batch, self._batches)
        y0, y1, wy = _bracket(length, self._lengths)
        grid = self._grid
        low = grid[(x0, y0)] * (1 - wy) + grid[(x0, y1)] * wy
        high = grid[(x1, y0)] * (1 - wy) + grid[(x1, y1)] * wy
        return (low * (1 - wx) + high * wx) * batch_scale * length_scale

    def _rank_factor(self, rank: int) -> float:
        """Measured time of `rank` over rank 16's at the same setting, interpolated in log rank."""
        ratios = {_BASE_RANK: 1.0}
        for point in self._points:
            if point.rank == _BASE_RANK or point.targets != _BASE_TARGETS:
                continue
            base = self._grid.get((point.micro_batch, point.seq_len))
            if base is not None:
                ratios.setdefault(point.rank, 0.0)
                ratios[point.rank] = max(ratios[point.rank], point.step_ms / base)
        ranks = sorted(ratios)
        clamped = min(max(rank, ranks[0]), ranks[-1])
        low, high, weight = _bracket(clamped, ranks)
        return ratios[low] * (1 - weight) + ratios[high] * weight

    def _targets_factor(self, targets: frozenset[str]) -> float:
        """All-linear targets cost what the table measured; a set in between, in proportion to
        the modules it wraps beyond the attention projections."""
        if len(targets) <= len(_BASE_TARGETS):
            return 1.0
        measured = [
            p.step_ms / self._grid[(p.micro_batch, p.seq_len)]
            for p in self._points
            if p.targets == _ALL_LINEAR and (p.micro_batch, p.seq_len) in self._grid
        ]
        if not measured:
            return 1.0
        extra = min(len(targets), len(_ALL_LINEAR)) - len(_BASE_TARGETS)
        return 1.0 + (max(measured) - 1.0) * extra / (len(_ALL_LINEAR) - len(_BASE_TARGETS))


def _clamp(value: int, axis: Sequence[int]) -> tuple[int, float]:
    """The value moved onto the axis, and the factor time scales by for the part beyond it."""
    if value > axis[-1]:
        return axis[-1], value / axis[-1]
    if value < axis[0]:
        return axis[0], 1.0
    return value, 1.0


def _bracket(value: int, axis: Sequence[int]) -> tuple[int, int, float]:
    """The axis points around `value` and its weight toward the upper one, in log2 space."""
    index = bisect.bisect_left(axis, value)
    if index < len(axis) and axis[index] == value:
        return value, value, 0.0
    low, high = axis[index - 1], axis[index]
    weight = (math.log2(value) - math.log2(low)) / (math.log2(high) - math.log2(low))
    return low, high, weight


def load_table(name: str = H200_TABLE) -> StepCostTable:
    """A packaged step-cost table by file name."""
    text = resources.files("sloserve.finetune").joinpath("tables", name).read_text("utf-8")
    return StepCostTable(json.loads(text))
