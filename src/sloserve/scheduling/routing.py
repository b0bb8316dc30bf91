"""Choosing an engine for one request, or saying why none can take it now.

`least_loaded` is what a plain router does. `by_predicted_completion` is SCORPIO's: among engines
with room where the TPOT guard admits the request and its predicted TTFT fits its slack, take the
one with the earliest predicted completion (predicted TTFT + estimated output tokens × predicted
time per token there). When none qualifies it says whether the request could fit later (`Wait`)
or cannot meet its targets on any engine even once that engine drains (an `outcomes.Rejected`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sloserve.scheduling import (
    engine_state,
    latency_model,
    outcomes,
    rejections,
    slo,
    tpot_guard,
    ttft_guard,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Send the request to `engine_id`; predictions in seconds from now, None when not made."""

    engine_id: str
    predicted_ttft_s: float | None = None
    predicted_completion_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """No engine can take the request now, but one could later; `reason` says what blocks it."""

    reason: str


RouteDecision = Placement | Wait | outcomes.Rejected


def least_loaded(
    *,
    request: slo.Request,
    engines: Sequence[engine_state.EngineState],
    hold_when_saturated: bool,
    max_waiting: int | None,
) -> Placement | Wait:
    """The engine with the fewest requests (then fewest queued prefill tokens; then first given).

    With `hold_when_saturated`, only engines where the request would start at once count.
    """
    best: engine_state.EngineState | None = None
    # the best engine's load (running requests, then queued prefill tokens) as two numbers,
    # compared as the tuple would be without building one per engine (this runs at every dispatch)
    best_running = best_tokens = 0
    for engine in engines:
        if hold_when_saturated and not engine.has_room(
            prompt_tokens=request.prompt_tokens, max_waiting=max_waiting
        ):
            continue
        running = len(engine.running)
        tokens = engine.queued_prefill_tokens
        if (
            best is None
            or running < best_running
            or (running == best_running and tokens < best_tokens)
        ):
            best, best_running, best_tokens = engine, running, tokens
    if best is None:
        return Wait(reason=_NO_ROOM)
    return Placement(engine_id=best.engine_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionRouting:
    """The settings of `by_predicted_completion` (times in seconds).

    `use_tpot_guard`: apply the TPOT guard (off only to measure what it contributes).
    `max_waiting`: an engine with this many requests waiting is full (None: no limit).
    """

    latency: latency_model.LatencyModel
    use_tpot_guard: bool = True
    margin_s: float = ttft_guard.DEFAULT_MARGIN_S
    inefficiency: float = tpot_guard.DEFAULT_INEFFICIENCY
    headroom: float = tpot_guard.DEFAULT_HEADROOM
    max_waiting: int | None = None


def by_predicted_completion(
    *,
    request: slo.Request,
    engines: Sequence[engine_state.EngineState],
    now_s: float,
    output_tokens: int,
    settings: CompletionRouting,
    metered_out: frozenset[str] = frozenset(),
) -> RouteDecision:
    """SCORPIO routing of `request`, expected to produce `output_tokens` tokens; engines whose
    ids are in `metered_out` take no prompt now (their prefill meter is closed)."""
    # This runs for every queued request at every dispatch: the guards' arithmetic is written out
    # here (the same expressions as `tpot_guard.check` and `ttft_guard.engine_ttft_s`, so the
    # same results) instead of building their records for each engine.
    slack_s = request.slack_s(now_s)
    prompt_tokens = request.prompt_tokens
    tpot_s = request.tpot_s
    inverse_tpot_s = 1 / tpot_s
    latency = settings.latency
    decode_step_time_s = latency.decode_step_time_s
    use_tpot_guard = settings.use_tpot_guard
    max_waiting = settings.max_waiting
    best: Placement | None = None
    best_completion_s = 0.0
    blocked = _Blocked()
    for engine in engines:
        if metered_out and engine.engine_id in metered_out:
            blocked.metered = True
            continue
        if not engine.has_room(prompt_tokens=prompt_tokens, max_waiting=max_waiting):
            blocked.room = True
            continue
        totals = engine.totals
        batch = len(engine.running) + 1
        mean_context = (totals.context_tokens + prompt_tokens) / batch
        slowdown = engine.slowdown
        if use_tpot_guard:
            tightest_s = min(totals.tightest_tpot_s, tpot_s)
            virtual_batch = tightest_s * (totals.inverse_tpot_sum + inverse_tpot_s)
            step_s = slowdown * decode_step_time_s(virtual_batch, mean_context)
            if not settings.inefficiency * step_s < settings.headroom * tightest_s:
                blocked.tpot = True
                continue
        delay_s = engine.prefill_start_delay_s
        if delay_s is None:
            delay_s = ttft_guard.prefill_start_delay_s(engine, latency)
        prefill_s = latency.prefill_time_s(engine.queued_prefill_tokens + prompt_tokens)
        predicted_ttft_s = delay_s + settings.margin_s + slowdown * prefill_s
        if predicted_ttft_s > slack_s:
            blocked.ttft = True
            continue
        per_token_s = slowdown * decode_step_time_s(batch, mean_context)
        completion_s = predicted_ttft_s + output_tokens * per_token_s
        if best is None or completion_s < best_completion_s:
            best = Placement(
                engine_id=engine.engine_id,
                predicted_ttft_s=predicted_ttft_s,
                predicted_completion_s=completion_s,
            )
            best_completion_s = completion_s
    if best is not None:
        return best
    return _unattainable(request, engines, now_s, settings) or Wait(reason=blocked.describe())


class _Blocked:
    """Which conditions kept engines from taking the request, for the `Wait` reason."""

    def __init__(self) -> None:
        self.room = False
        self.tpot = False
        self.ttft = False
        self.metered = False

    def describe(self) -> str:
        reasons = []
        if self.room:
            reasons.append(_NO_ROOM)
        if self.tpot:
            reasons.append("the TPOT guard holds it back: the engines' steps would get too slow")
        if self.ttft:
            reasons.append("its predicted TTFT does not fit its slack on an engine with room now")
        if self.metered:
            reasons.append(
                "the prefill meter holds it back: more prompt work now would slow running "
                "requests past their TPOT"
            )
        return "; ".join(reasons) or "no engines were given"


_NO_ROOM = "every engine is full (max_num_seqs, waiting requests or free KV cache)"


def _unattainable(
    request: slo.Request,
    engines: Sequence[engine_state.EngineState],
    now_s: float,
    settings: CompletionRouting,
) -> outcomes.Rejected | None:
    """A rejection when the request misses a target on every engine even were it idle."""
    if not engines:
        return None
    if not tpot_attainable_somewhere(request=request, engines=engines, settings=settings):
        return rejections.tpot_unattainable(request, now_s=now_s)
    idle_ttft_s = min(
        engine.slowdown * settings.latency.prefill_time_s(request.prompt_tokens) + settings.margin_s
        for engine in engines
    )
    if idle_ttft_s > request.slack_s(now_s):
        return rejections.ttft_unattainable(request, predicted_ttft_s=idle_ttft_s, now_s=now_s)
    return None


def tpot_attainable_somewhere(
    *,
    request: slo.Request,
    engines: Sequence[engine_state.EngineState],
    settings: CompletionRouting,
) -> bool:
    """Whether some engine, were it idle, would pass `request` through the TPOT guard (always
    True with the guard off)."""
    if not settings.use_tpot_guard:
        return True
    # `tpot_guard.check_alone`'s arithmetic, without its record: this runs for every arrival
    tpot_s = request.tpot_s
    alone_step_s = settings.latency.decode_step_time_s(1.0, float(request.prompt_tokens))
    allowed_s = settings.headroom * tpot_s
    for engine in engines:
        if settings.inefficiency * (engine.slowdown * alone_step_s) < allowed_s:
            return True
    return False


def _tpot_admits(
    request: slo.Request, engine: engine_state.EngineState, settings: CompletionRouting
) -> bool:
    return tpot_guard.check(
        engine=engine,
        tpot_s=request.tpot_s,
        context_tokens=request.prompt_tokens,
        latency=settings.latency,
        inefficiency=settings.inefficiency,
        headroom=settings.headroom,
    ).admitted
