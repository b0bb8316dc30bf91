"""How much a LoRA job beside an engine slows the engine's steps, by the job's share of GPU time.

Derived from the measured H200 pass (`data/finetune/finetune_coloc_timeslice.json.gz`): the
Llama-3-8B shape's decode (batch 32 and 128 at context 1024), a 2048-token prefill and a mixed
step, each time-sliced beside a PEFT job (micro-batch 4 × 512, rank 16) throttled to duty cycles
100%, 50%, 25% and 10%. Each inference kind gets a curve slowdown(share), 1 at share 0, linear
between the measured shares; `engine_slowdown` is the mean over the kinds (what the simulator
applies to an engine's steps), `worst_slowdown` the largest (what a guard plans against).
The packaged table is `tables/h200_lora_interference.json`; `derive` rebuilds it from the pass.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["H200_INTERFERENCE", "InterferenceTable", "derive", "load_interference"]

H200_INTERFERENCE = "h200_lora_interference.json"
SCHEMA = "sloserve.finetune-interference/v1"


@dataclass(frozen=True, slots=True)
class _Curve:
    shares: tuple[float, ...]
    slowdowns: tuple[float, ...]

    def at(self, share: float) -> float:
        if share <= self.shares[0]:
            return self.slowdowns[0]
        if share >= self.shares[-1]:
            return self.slowdowns[-1]
        index = bisect.bisect_left(self.shares, share)
        low, high = self.shares[index - 1], self.shares[index]
        weight = (share - low) / (high - low)
        return self.slowdowns[index - 1] * (1 - weight) + self.slowdowns[index] * weight


class InterferenceTable:
    """Slowdown of inference steps (and of the training step) by the job's share of GPU time."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        if document.get("schema") != SCHEMA:
            raise ValueError(f"not an interference table: schema {document.get('schema')!r}")
        self.gpu = str(document["gpu"])
        self._inference = {kind: _curve(points) for kind, points in document["inference"].items()}
        self._training = _curve(document["training"])
        if not self._inference:
            raise ValueError("the interference table has no inference kind")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The inference step kinds measured."""
        return tuple(sorted(self._inference))

    def slowdown(self, kind: str, share: float) -> float:
        """Slowdown of an inference step of `kind` beside a job at `share` of GPU time."""
        return self._inference[kind].at(share)

    def engine_slowdown(self, share: float) -> float:
        """Mean slowdown over the measured inference kinds at `share`."""
        values = [curve.at(share) for curve in self._inference.values()]
        return sum(values) / len(values)

    def worst_slowdown(self, share: float) -> float:
        """Largest slowdown over the measured inference kinds at `share`."""
        return max(curve.at(share) for curve in self._inference.values())

    def training_slowdown(self, share: float) -> float:
        """Slowdown of the training step itself beside inference at `share`."""
        return self._training.at(share)

    def largest_share_within(self, slowdown: float) -> float:
        """The largest share whose worst inference slowdown stays at or under `slowdown`
        (0 when even a sliver exceeds it), to 1/1000."""
        if self.worst_slowdown(1.0) <= slowdown:
            return 1.0
        low, high = 0.0, 1.0
        while high - low > 1e-3:
            middle = (low + high) / 2
            if self.worst_slowdown(middle) <= slowdown:
                low = middle
            else:
                high = middle
        return low


def _curve(points: Sequence[Sequence[float]]) -> _Curve:
    ordered = sorted((float(share), float(value)) for share, value in points)
    return _Curve(
        shares=tuple(share for share, _ in ordered),
        slowdowns=tuple(value for _, value in ordered),
    )


def derive(coloc: Mapping[str, Any]) -> dict[str, Any]:
    """The interference table from a fine-tuning co-location pass (`--plan finetune`).

    Uses the rows of the rank-16, micro-batch 4 × 512 job at its duty cycles; the larger job of
    the pass (8 × 1024, unthrottled) is left out, since its share is not a duty cycle.
    """
    kinds: Mapping[str, Any] = coloc["kinds"]
    job_kinds = {
        name: float(kind["duty"])
        for name, kind in kinds.items()
        if kind["family"] == "peft" and kind["batch"] == 4 and kind["prompt_tokens"] == 512
    }
    inference: dict[str, list[list[float]]] = {}
    training: dict[float, list[float]] = {}
    for row in coloc["rows"]:
        runners = row["co_runners"]
        if len(runners) != 1:
            continue
        if row["kind"] in job_kinds:
            duty = job_kinds[row["kind"]]
            training.setdefault(duty, []).append(float(row["slowdown"]))
        elif runners[0] in job_kinds and kinds[row["kind"]]["family"] != "peft":
            duty = job_kinds[runners[0]]
            inference.setdefault(row["kind"], [[0.0, 1.0]]).append(
                [duty, round(float(row["slowdown"]), 4)]
            )
    return {
        "schema": SCHEMA,
        "gpu": coloc["gpu"],
        "sharing": coloc["sharing"],
        "derived_from": "data/finetune/finetune_coloc_timeslice.json.gz",
        "command": coloc["command"],
        "job": "peft_1b_b4_s512_r16 (rank 16, micro-batch 4 x 512) at its duty cycles",
        "inference": {kind: sorted(points) for kind, points in sorted(inference.items())},
        "training": sorted(
            [[0.0, 1.0]]
            + [[duty, round(sum(values) / len(values), 4)] for duty, values in training.items()]
        ),
    }


def load_interference(name: str = H200_INTERFERENCE) -> InterferenceTable:
    """A packaged interference table by file name."""
    text = resources.files("sloserve.finetune").joinpath("tables", name).read_text("utf-8")
    return InterferenceTable(json.loads(text))
