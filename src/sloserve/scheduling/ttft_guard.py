"""The TTFT guard: reject a request whose slack is below its predicted time to first token.

Walking the waiting requests in queue order (least slack first), each request's first token is
predicted after the prompts kept ahead of it and its own are prefilled: predicted TTFT = time until
its engine can start a new prefill + slowdown × T_prefill(tokens queued on that engine + prompt
tokens of the requests kept so far on it, its own included) + a margin. With one engine this is
SCORPIO's guard. With several, the walk assigns each
kept request to the engine that would finish its prefill first (list scheduling), so tokens ahead
are spread as a dispatcher would spread them. A rejected request adds no tokens: it will not run.
"""

import collections
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from sloserve.scheduling import engine_state, latency_model, request_queue, slo

DEFAULT_MARGIN_S = 0.050


@dataclass(frozen=True, slots=True, kw_only=True)
class TTFTPrediction:
    """A request's predicted TTFT (seconds from `now`) on the engine the walk assigned it to."""

    request: slo.Request
    engine_id: str
    predicted_ttft_s: float
    slack_s: float

    @property
    def attainable(self) -> bool:
        """False when the slack is below the predicted TTFT: the guard rejects the request."""
        return self.slack_s >= self.predicted_ttft_s


def prefill_start_delay_s(
    engine: engine_state.EngineState, latency: latency_model.LatencyModel
) -> float:
    """Seconds until `engine` can start a new prefill: the caller's figure when it gave one, else
    the decode step in flight (one step of the current batch), zero when nothing decodes."""
    if engine.prefill_start_delay_s is not None:
        return engine.prefill_start_delay_s
    if engine.decoding_requests == 0:
        return 0.0
    step_s = latency.decode_step_time_s(engine.decoding_requests, engine.mean_context_tokens())
    return engine.slowdown * step_s


def engine_ttft_s(
    *,
    engine: engine_state.EngineState,
    latency: latency_model.LatencyModel,
    prompt_tokens_ahead: int,
    margin_s: float,
) -> float:
    """Predicted TTFT on `engine` of a request whose prefill follows the engine's queued tokens
    and `prompt_tokens_ahead` more (its own included)."""
    prefill_s = latency.prefill_time_s(engine.queued_prefill_tokens + prompt_tokens_ahead)
    return prefill_start_delay_s(engine, latency) + margin_s + engine.slowdown * prefill_s


def predict_in_order(
    *,
    ordered: Iterable[slo.Request],
    engines: Sequence[engine_state.EngineState],
    latency: latency_model.LatencyModel,
    now_s: float,
    margin_s: float = DEFAULT_MARGIN_S,
) -> Iterator[TTFTPrediction]:
    """Predict each request of `ordered` in turn, as described in the module docstring.

    Raises ValueError when `engines` is empty: with nowhere to run, there is nothing to predict.
    """
    for request, engine_index, predicted_ttft_s, slack_s in _walk(
        ordered, engines, latency, now_s, margin_s
    ):
        yield TTFTPrediction(
            request=request,
            engine_id=engines[engine_index].engine_id,
            predicted_ttft_s=predicted_ttft_s,
            slack_s=slack_s,
        )


def check_admission(
    *,
    candidate: slo.Request,
    queue: request_queue.RequestQueue,
    engines: Sequence[engine_state.EngineState],
    latency: latency_model.LatencyModel,
    now_s: float,
    margin_s: float = DEFAULT_MARGIN_S,
) -> TTFTPrediction:
    """The candidate's prediction if it joined `queue` now: only the requests that would pop
    before it count against it."""
    walk = _walk((*queue.ahead_of(candidate), candidate), engines, latency, now_s, margin_s)
    # Only the last step of the walk, the candidate's, is wanted.
    _, engine_index, predicted_ttft_s, slack_s = collections.deque(walk, maxlen=1)[0]
    return TTFTPrediction(
        request=candidate,
        engine_id=engines[engine_index].engine_id,
        predicted_ttft_s=predicted_ttft_s,
        slack_s=slack_s,
    )


def recheck(
    *,
    queue: request_queue.RequestQueue,
    engines: Sequence[engine_state.EngineState],
    latency: latency_model.LatencyModel,
    now_s: float,
    margin_s: float = DEFAULT_MARGIN_S,
) -> list[TTFTPrediction]:
    """The queued requests that have become unattainable by `now_s`, in queue order. The queue is
    not changed: the caller removes and rejects them."""
    return [
        TTFTPrediction(
            request=request,
            engine_id=engines[engine_index].engine_id,
            predicted_ttft_s=predicted_ttft_s,
            slack_s=slack_s,
        )
        for request, engine_index, predicted_ttft_s, slack_s in _walk(
            queue, engines, latency, now_s, margin_s
        )
        if slack_s < predicted_ttft_s
    ]


def _walk(
    ordered: Iterable[slo.Request],
    engines: Sequence[engine_state.EngineState],
    latency: latency_model.LatencyModel,
    now_s: float,
    margin_s: float,
) -> Iterator[tuple[slo.Request, int, float, float]]:
    """(request, engine index, predicted TTFT, slack) for each request in order.

    This loop runs over the whole queue at every dispatch, so it keeps to plain locals and tuples
    (and hands out the walk itself rather than a generator around it).
    """
    if not engines:
        raise ValueError("engines is empty: the TTFT guard needs at least one engine to predict on")
    prefill_time_s = latency.prefill_time_s
    fixed_s = [prefill_start_delay_s(engine, latency) + margin_s for engine in engines]
    slowdowns = [engine.slowdown for engine in engines]
    tokens = [engine.queued_prefill_tokens for engine in engines]
    if len(engines) == 1:
        return _walk_one(ordered, fixed_s[0], slowdowns[0], tokens[0], prefill_time_s, now_s)
    return _walk_many(ordered, fixed_s, slowdowns, tokens, prefill_time_s, now_s)


def _walk_many(
    ordered: Iterable[slo.Request],
    fixed_s: list[float],
    slowdowns: list[float],
    tokens: list[int],
    prefill_time_s: Callable[[int], float],
    now_s: float,
) -> Iterator[tuple[slo.Request, int, float, float]]:
    """`_walk` on several engines: each kept request goes where its prefill would finish first."""
    others = range(1, len(fixed_s))
    for request in ordered:
        own = request.prompt_tokens
        best_index = 0
        best_s = fixed_s[0] + slowdowns[0] * prefill_time_s(tokens[0] + own)
        for index in others:
            ttft_s = fixed_s[index] + slowdowns[index] * prefill_time_s(tokens[index] + own)
            if ttft_s < best_s:
                best_index, best_s = index, ttft_s
        slack_s = request.deadline_s - now_s
        if slack_s >= best_s:
            tokens[best_index] += own
        yield request, best_index, best_s, slack_s


def _walk_one(
    ordered: Iterable[slo.Request],
    fixed_s: float,
    slowdown: float,
    tokens: int,
    prefill_time_s: Callable[[int], float],
    now_s: float,
) -> Iterator[tuple[slo.Request, int, float, float]]:
    """`_walk` on one engine (most clusters a simulator runs): the same arithmetic, without
    the loop over the other engines."""
    for request in ordered:
        own = request.prompt_tokens
        best_s = fixed_s + slowdown * prefill_time_s(tokens + own)
        slack_s = request.deadline_s - now_s
        if slack_s >= best_s:
            tokens += own
        yield request, 0, best_s, slack_s
