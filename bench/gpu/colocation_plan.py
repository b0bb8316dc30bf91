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
MAX_INSTANCES: dict[WorkerFamily, int] = {"llm": 4, "lora": 2}


def build_combos(
    kinds: Sequence[WorkloadKind],
    *,
    triples: int,
    idle_triples: int,
    seed: int,
    pairs: int | None = None,
    quadruples: int = 0,
) -> list[Combo]:
    """Pairs of active kinds (a kind with itself too; all of them, or a seeded sample of `pairs`
    in which every kind appears), every active kind beside idle, and seeded samples of `triples`
    active triples, `quadruples` active quadruples and `idle_triples` (a, b, idle) triples.

    The order is seeded too: the idle pairs first, then the pairs, then triples and quadruples
    interleaved at random, so a pass cut short by its deadline keeps the pairs. Combos needing
    more workers of a family than MAX_INSTANCES allows are never drawn.
    """
    by_name = {kind.name: kind for kind in kinds}
    active = sorted(name for name, kind in by_name.items() if kind.family != "idle")
    has_idle = any(kind.family == "idle" for kind in kinds)
    all_pairs = [tuple(pair) for pair in itertools.combinations_with_replacement(active, 2)]
    feasible_pairs = [pair for pair in all_pairs if _fits(pair, by_name)]
    rng = random.Random(seed)
    if pairs is not None and pairs < len(feasible_pairs):
        feasible_pairs = _covering_sample(feasible_pairs, active, pairs, rng)
    idle_pairs = [(name, "idle") for name in active] if has_idle else []
    chosen = _sample_fitting(active, 3, triples, by_name, rng)
    chosen += _sample_fitting(active, 4, quadruples, by_name, rng)
    chosen_idle: list[Combo] = []
    if has_idle:
        candidates = [(*pair, "idle") for pair in feasible_pairs]
        chosen_idle = rng.sample(candidates, min(idle_triples, len(candidates)))
    rng.shuffle(feasible_pairs)
    larger = chosen + chosen_idle
    rng.shuffle(larger)
    return [tuple(sorted(c)) for c in idle_pairs + feasible_pairs + larger]


def _covering_sample(
    pairs: list[Combo], active: list[str], count: int, rng: random.Random
) -> list[Combo]:
    """`count` pairs, drawn so that every kind is in at least one (where count allows)."""
    pool = list(pairs)
    rng.shuffle(pool)
    chosen: list[Combo] = []
    for name in active:
        if len(chosen) >= count:
            break
        if any(name in pair for pair in chosen):
            continue
        pick = next(pair for pair in pool if name in pair)
        pool.remove(pick)
        chosen.append(pick)
    return chosen + pool[: max(0, count - len(chosen))]


def _sample_fitting(
    active: list[str], size: int, count: int, by_name: dict[str, WorkloadKind], rng: random.Random
) -> list[Combo]:
    """A seeded sample of `count` distinct multisets of `size` active kinds that fit."""
    if count <= 0:
        return []
    every = [c for c in itertools.combinations_with_replacement(active, size) if _fits(c, by_name)]
    return rng.sample(every, min(count, len(every)))


def finetune_combos(kinds: Sequence[WorkloadKind]) -> list[Combo]:
    """Every inference kind beside every fine-tuning kind (the fine-tuning-beside-inference
    tables), inference kinds first in catalogue order."""
    inference = [k.name for k in kinds if k.worker_family == "llm"]
    jobs = [k.name for k in kinds if k.worker_family == "lora"]
    return [(serving, job) for serving in inference for job in jobs]


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
    gpu: str = "",
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
            "gpu": gpu,
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
