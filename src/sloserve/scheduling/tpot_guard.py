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
    """Whether a request with target `tpot_s` and `context_tokens` of context may join `engine`."""
    tightest_s = min(engine.tightest_tpot_s, tpot_s)
    return _decide(
        virtual_batch=tightest_s * (engine.inverse_tpot_sum + 1 / tpot_s),
        tightest_s=tightest_s,
        context=engine.mean_context_tokens(extra_context_tokens=context_tokens),
        slowdown=engine.slowdown,
        latency=latency,
        inefficiency=inefficiency,
        headroom=headroom,
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
    return _decide(
        virtual_batch=1.0,
        tightest_s=tpot_s,
        context=float(context_tokens),
        slowdown=engine.slowdown,
        latency=latency,
        inefficiency=inefficiency,
        headroom=headroom,
    )


def _decide(
    *,
    virtual_batch: float,
    tightest_s: float,
    context: float,
    slowdown: float,
    latency: latency_model.LatencyModel,
    inefficiency: float,
    headroom: float,
) -> TPOTCheck:
    step_s = slowdown * latency.decode_step_time_s(virtual_batch, context)
    return TPOTCheck(
        admitted=inefficiency * step_s < headroom * tightest_s,
        virtual_batch_size=virtual_batch,
        tightest_tpot_s=tightest_s,
        predicted_step_s=step_s,
    )
