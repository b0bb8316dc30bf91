"""Inference and fine-tuning on the same simulated GPUs: one LoRA worker beside each engine.

The cluster simulator (`sloserve.sim.event_loop`) serves the inference workload; every
`control_interval_s` of simulated time this driver stops it, advances each engine's training
worker (`trainer.SimulatedTrainer`, timed by the measured step costs), decides each worker's
share of GPU time by the policy, and sets each engine's slowdown from the interference table at
that share. Policies:

- `none`: no fine-tuning (the GPUs serve inference alone: dedicated GPUs would train);
- `naive`: every worker at full share, whatever inference does;
- `guarded`: sloserve's co-serving: a `coserve.ThrottleController` per worker, fed the smallest
  headroom of the inference classes (attainment over the last `window_s` of ended requests, as
  the operator reads it from the gateway) and capped per engine by the predicted interference
  (the largest share whose worst measured slowdown keeps the engine's predicted decode step,
  at its current batch, within the tightest TPOT over the TPOT guard's inefficiency factor).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sloserve.engine import timing
from sloserve.finetune import coserve, interference, step_costs, trainer
from sloserve.sim import event_loop, records, settings, summary, workload

__all__ = ["CoServingConfig", "CoServingPolicy", "CoServingResult", "simulate"]

#: SCORPIO's inefficiency factor of the TPOT guard: a step must stay under T_min / 1.3.
TPOT_INEFFICIENCY = 1.3
#: Context assumed for the decode step of the predicted-interference cap.
CAP_CONTEXT_TOKENS = 1024.0


class CoServingPolicy(enum.StrEnum):
    """How fine-tuning shares the engines' GPUs."""

    NONE = "none"
    NAIVE = "naive"
    GUARDED = "guarded"


@dataclass(frozen=True, kw_only=True)
class CoServingConfig:
    """One co-serving run: the policy, the workers' step shape and the control loop."""

    policy: CoServingPolicy
    micro_batch: int = 4
    seq_len: int = 512
    rank: int = 16
    control_interval_s: float = 1.0
    window_s: float = 20.0
    target_attainment: float = 0.98
    throttle: coserve.ThrottleSettings = field(default_factory=coserve.ThrottleSettings)
    predicted_cap: bool = True


@dataclass(frozen=True, kw_only=True)
class CoServingResult:
    """The inference records and summary, and what fine-tuning got done."""

    records: tuple[records.RequestRecord, ...]
    summary: summary.RunSummary
    duration_s: float
    finetune_tokens: int
    finetune_steps: int
    mean_share: float
    share_timeline: tuple[tuple[float, float], ...]
    """(time, mean share over the workers) at every control tick."""


def simulate(
    requests: Sequence[workload.WorkloadRequest],
    sim_config: settings.SimulationConfig,
    config: CoServingConfig,
    *,
    costs: step_costs.StepCostTable | None = None,
    table: interference.InterferenceTable | None = None,
) -> CoServingResult:
    """Serve `requests` on `sim_config`'s cluster with a training worker beside every engine."""
    costs = costs or step_costs.load_table()
    table = table or interference.load_interference()
    loop = event_loop.EventLoop(requests, sim_config)
    engines = loop.engine_count
    start_s = min(request.arrival_s for request in requests)
    end_s = max(request.arrival_s for request in requests)
    run_settings = trainer.TrainerSettings(
        total_steps=2**31 - 1, micro_batch=config.micro_batch, seq_len=config.seq_len,
        rank=config.rank, checkpoint_every=2**31 - 1,
    )  # fmt: skip
    workers = [trainer.SimulatedTrainer(run_settings, costs, now_s=start_s) for _ in range(engines)]
    throttles = [coserve.ThrottleController(config.throttle, now_s=start_s) for _ in range(engines)]
    shares = [0.0] * engines
    if config.policy is CoServingPolicy.NAIVE:
        shares = [1.0] * engines
    for index, worker in enumerate(workers):
        _apply(loop, worker, index, shares[index], table, now_s=start_s)
    classes = {share.name: share for share in (r.slo_class for r in requests)}
    tightest_tpot_s = min(share.tpot_s for share in classes.values())
    step_timer = timing.StepTimer(sim_config.profile)
    window: list[records.RequestRecord] = []
    seen = 0
    timeline: list[tuple[float, float]] = []
    now_s = start_s
    more = True
    while more:
        now_s += config.control_interval_s
        more = loop.run_until(now_s)
        ended = loop.ended_since(seen)
        seen += len(ended)
        # training is counted up to the last arrival in every policy, so their tokens compare
        for worker in workers:
            worker.advance(min(now_s, end_s))
        if now_s > end_s:
            continue
        if config.policy is CoServingPolicy.GUARDED:
            window.extend(ended)
            horizon = now_s - config.window_s
            window = [record for record in window if record.ended_s >= horizon]
            headroom, limiting = coserve.smallest_headroom(
                _class_signals(window, classes, config.target_attainment)
            )
            for index, throttle in enumerate(throttles):
                cap = 1.0
                if config.predicted_cap:
                    cap = _predicted_cap(step_timer, loop.held(index), tightest_tpot_s, table)
                decision = throttle.decide(now_s, headroom, limiting=limiting, cap=cap)
                shares[index] = decision.share
                _apply(loop, workers[index], index, decision.share, table, now_s=now_s)
        timeline.append((now_s, sum(shares) / engines))
    statuses = [worker.status() for worker in workers]
    request_records, _ = _finish(loop)
    return CoServingResult(
        records=request_records,
        summary=summary.summarize(request_records),
        duration_s=end_s - start_s,
        finetune_tokens=sum(status.tokens for status in statuses),
        finetune_steps=sum(status.completed_steps for status in statuses),
        mean_share=(sum(share for _, share in timeline) / len(timeline)) if timeline else 0.0,
        share_timeline=tuple(timeline),
    )


def _finish(
    loop: event_loop.EventLoop,
) -> tuple[tuple[records.RequestRecord, ...], event_loop.RunCounters]:
    return loop.run()


def _apply(
    loop: event_loop.EventLoop,
    worker: trainer.SimulatedTrainer,
    index: int,
    share: float,
    table: interference.InterferenceTable,
    *,
    now_s: float,
) -> None:
    """The worker at `share` (paused at 0) and its engine slowed as the table says."""
    if share <= 0:
        worker.pause(now_s)
    else:
        worker.set_share(share)
        worker.set_slowdown(table.training_slowdown(share))
        worker.resume(now_s)
    loop.set_slowdown(index, table.engine_slowdown(share) if share > 0 else 1.0)


def _class_signals(
    window: Sequence[records.RequestRecord],
    classes: dict[str, workload.ClassShare],
    target_attainment: float,
) -> list[coserve.ClassSignals]:
    counts: dict[str, list[int]] = {name: [0, 0] for name in classes}
    for record in window:
        tally = counts[record.slo_class]
        tally[0] += 1
        tally[1] += 1 if record.attained else 0
    return [
        coserve.ClassSignals(
            name=name,
            attainment=(good / total) if total else None,
            target_attainment=target_attainment,
        )
        for name, (total, good) in counts.items()
    ]


def _predicted_cap(
    step_timer: timing.StepTimer,
    batch: int,
    tightest_tpot_s: float,
    table: interference.InterferenceTable,
) -> float:
    """The largest share whose worst measured slowdown keeps a decode step of `batch` within
    the tightest TPOT over the guard's inefficiency factor (1 when the engine is idle)."""
    if batch <= 0:
        return 1.0
    alone_s = step_timer.decode_step_seconds(batch, CAP_CONTEXT_TOKENS)
    allowed = tightest_tpot_s / TPOT_INEFFICIENCY / alone_s if alone_s > 0 else math.inf
    return table.largest_share_within(allowed)
