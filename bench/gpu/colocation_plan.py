"""Which co-locations to run, which worker runs each workload, and how results become rows.

Pure functions (no GPU, no processes), so the plan can be checked anywhere.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from colocation_workloads import WorkerFamily, WorkloadKind

Combo = tuple[str, ...]
MAX_INSTANCES: dict[WorkerFamily, int] = {"llm": 3, "lora": 2}


def build_combos(
    kinds: Sequence[WorkloadKind], *, triples: int, idle_triples: int, seed: int
) -> list[Combo]:
    """Every pair of active kinds (a kind with itself too), every active kind beside idle, and a
    seeded sample of `triples` active triples and `idle_triples` (a, b, idle) triples, shuffled.

    Combos needing more workers of a family than MAX_INSTANCES allows are never drawn.
    """
    by_name = {kind.name: kind for kind in kinds}
    active = sorted(name for name, kind in by_name.items() if kind.family != "idle")
    has_idle = any(kind.family == "idle" for kind in kinds)
    pairs = [tuple(pair) for pair in itertools.combinations_with_replacement(active, 2)]
    feasible_pairs = [pair for pair in pairs if _fits(pair, by_name)]
    idle_pairs = [(name, "idle") for name in active] if has_idle else []
    all_triples = [
        combo
        for combo in itertools.combinations_with_replacement(active, 3)
        if _fits(combo, by_name)
    ]
    rng = random.Random(seed)
    chosen = rng.sample(all_triples, min(triples, len(all_triples)))
    chosen_idle: list[Combo] = []
    if has_idle:
        candidates = [(*pair, "idle") for pair in feasible_pairs]
        chosen_idle = rng.sample(candidates, min(idle_triples, len(candidates)))
    combos = [tuple(sorted(c)) for c in feasible_pairs + idle_pairs + chosen + chosen_idle]
    rng.shuffle(combos)
    return combos


def _fits(combo: Combo, by_name: dict[str, WorkloadKind]) -> bool:
    needed = Counter(by_name[name].worker_family for name in combo)
    return all(needed[family] <= limit for family, limit in MAX_INSTANCES.items())


def workers_needed(combos: Sequence[Combo], kinds: Sequence[WorkloadKind]) -> dict[str, int]:
    """Worker processes per family: the most kinds of that family any combo runs at once."""
    by_name = {kind.name: kind for kind in kinds}
    needed: dict[str, int] = {}
    for combo in combos:
        for family, count in Counter(by_name[n].worker_family for n in combo).items():
            if family is not None:
                needed[family] = max(needed.get(family, 0), count)
    for kind in kinds:
        if kind.worker_family is not None:
            needed.setdefault(kind.worker_family, 1)
    return needed


def assign(combo: Combo, kinds: Sequence[WorkloadKind]) -> list[tuple[str, WorkerFamily, int]]:
    """(kind, worker family, worker index) for each active kind in the combo, in combo order."""
    by_name = {kind.name: kind for kind in kinds}
    taken: Counter[str] = Counter()
    placed: list[tuple[str, WorkerFamily, int]] = []
    for name in combo:
        family = by_name[name].worker_family
        if family is None:
            continue
        placed.append((name, family, taken[family]))
        taken[family] += 1
    return placed


@dataclasses.dataclass(frozen=True)
class StepStats:
    """Step times of one workload over one window, in milliseconds."""

    mean_ms: float
    median_ms: float
    steps: int

    @classmethod
    def of(cls, durations_ms: Sequence[float]) -> StepStats | None:
        """Statistics of the steps, or None when no step completed inside the window."""
        if not durations_ms:
            return None
        return cls(
            mean_ms=statistics.fmean(durations_ms),
            median_ms=statistics.median(durations_ms),
            steps=len(durations_ms),
        )

    def record(self) -> dict[str, Any]:
        return {
            "step_ms_mean": round(self.mean_ms, 4),
            "step_ms_median": round(self.median_ms, 4),
            "steps": self.steps,
        }


def label_rows(
    *,
    run_id: str,
    mode: str,
    combo: Combo,
    placed: Sequence[tuple[str, WorkerFamily, int]],
    measured: Sequence[StepStats | None],
    solo: dict[str, StepStats],
) -> list[dict[str, Any]]:
    """One row per active workload of the run.

    slowdown = co-located mean step time / solo mean step time (>= 1: slowed down);
    p_cloudformer = its inverse, CloudFormer's perf_ideal / perf_actual in (0, 1]. A workload with
    no complete step in the window keeps its row, with null times and a `missing` reason.
    """
    rows = []
    for index, ((kind, _, _), stats) in enumerate(zip(placed, measured, strict=True)):
        others = [
            name for position, name in enumerate(_active_first(combo, placed)) if position != index
        ]
        row: dict[str, Any] = {
            "run_id": run_id,
            "mode": mode,
            "kind": kind,
            "co_runners": sorted(others),
            "solo_step_ms": round(solo[kind].mean_ms, 4),
            "solo_step_ms_median": round(solo[kind].median_ms, 4),
        }
        if stats is None:
            row |= {
                "coloc_step_ms": None,
                "coloc_step_ms_median": None,
                "coloc_steps": 0,
                "slowdown": None,
                "p_cloudformer": None,
                "missing": "no step began and ended inside the measured part of the window",
            }
        else:
            slowdown = stats.mean_ms / solo[kind].mean_ms
            row |= {
                "coloc_step_ms": round(stats.mean_ms, 4),
                "coloc_step_ms_median": round(stats.median_ms, 4),
                "coloc_steps": stats.steps,
                "slowdown": round(slowdown, 4),
                "p_cloudformer": round(1.0 / slowdown, 4),
            }
        rows.append(row)
    return rows


def _active_first(combo: Combo, placed: Sequence[tuple[str, WorkerFamily, int]]) -> list[str]:
    """The combo's kinds with the placed (active) ones first, in placement order."""
    active = [kind for kind, _, _ in placed]
    rest = list((Counter(combo) - Counter(active)).elements())
    return active + rest
