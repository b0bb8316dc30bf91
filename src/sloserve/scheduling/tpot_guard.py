"""The TPOT guard: admit a request to an engine only if its decode steps stay fast enough.

Requests with looser TPOT targets need not run every decode step (an engine with credit batching
runs a request of target T_r in about T_min/T_r of the steps), so the batch that matters is the
virtual batch size VBS = Σ T_min / T_r over the engine's requests and the candidate, T_min the
tightest target among them. The candidate is admitted when
inefficiency × predicted step time at batch VBS (and the mean context) < headroom × T_min;
SCORPIO uses inefficiency 1.3 and headroom 0.99.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

from sloserve.scheduling import engine_state, latency_model

DEFAULT_INEFFICIENCY = 1.3
DEFAULT_HEADROOM = 0.99


def virtual_batch_size(tpots_s: Iterable[float]) -> float:
    """Σ T_min / T_r over the TPOT targets `tpots_s` (0 for none)."""
    targets = list(tpots_s)
    if not targets:
        return 0.0
    tightest = min(targets)
    return tightest * math.fsum(1 / target for target in targets)


@dataclass(frozen=True, slots=True, kw_only=True)
class TPOTCheck:
    """The guard's decision and the numbers behind it (times in seconds, slowdown applied)."""

    admitted: bool
    virtual_batch_size: float
    tightest_tpot_s: float
    predicted_step_s: float


def check(
    *,
    engine: engine_state.EngineState,
    tpot_s: float,
    context_tokens: int,
    latency: latency_model.LatencyModel,
    inefficiency: float = DEFAULT_INEFFICIENCY,
    headroom: float = DEFAULT_HEADROOM,
) -> TPOTCheck:
    """Whether a request with target `tpot_s` and `context_tokens` of context may join `engine`,
    and the numbers behind the decision."""
    tightest_s = min(engine.tightest_tpot_s, tpot_s)
    virtual_batch = joined_virtual_batch(engine, tpot_s=tpot_s, tightest_s=tightest_s)
    step_s = predicted_step_s(
        virtual_batch=virtual_batch,
        context=engine.mean_context_tokens(extra_context_tokens=context_tokens),
        slowdown=engine.slowdown,
        latency=latency,
    )
    return TPOTCheck(
        admitted=fast_enough(step_s, tightest_s, inefficiency=inefficiency, headroom=headroom),
        virtual_batch_size=virtual_batch,
        tightest_tpot_s=tightest_s,
        predicted_step_s=step_s,
    )


def check_alone(
    *,
    engine: engine_state.EngineState,
    tpot_s: float,
    context_tokens: int,
    latency: latency_model.LatencyModel,
    inefficiency: float = DEFAULT_INEFFICIENCY,
    headroom: float = DEFAULT_HEADROOM,
) -> TPOTCheck:
    """The guard's decision were the request alone on `engine` (same slowdown): when even this
    fails, waiting for the engine to drain cannot help."""
    step_s = predicted_step_s(
        virtual_batch=1.0, context=float(context_tokens), slowdown=engine.slowdown, latency=latency
    )
    return TPOTCheck(
        admitted=fast_enough(step_s, tpot_s, inefficiency=inefficiency, headroom=headroom),
        virtual_batch_size=1.0,
        tightest_tpot_s=tpot_s,
        predicted_step_s=step_s,
    )


def joined_virtual_batch(
    engine: engine_state.EngineState, *, tpot_s: float, tightest_s: float
) -> float:
    """VBS of `engine`'s requests and one more of target `tpot_s`, `tightest_s` the tightest
    target among them all."""
    return tightest_s * (engine.inverse_tpot_sum + 1 / tpot_s)


def predicted_step_s(
    *,
    virtual_batch: float,
    context: float,
    slowdown: float,
    latency: latency_model.LatencyModel,
) -> float:
    """The predicted decode step at batch `virtual_batch` and mean context `context`."""
    return slowdown * latency.decode_step_time_s(virtual_batch, context)


def fast_enough(step_s: float, tightest_s: float, *, inefficiency: float, headroom: float) -> bool:
    """SCORPIO's admission test: inefficiency × step < headroom × T_min."""
    return inefficiency * step_s < headroom * tightest_s
