"""The TTFT guard: reject a request whose slack is below its predicted time to first token.

Walking the waiting requests in queue order (least slack first), each request's first token is
predicted on every engine, and the walk keeps it on the engine where that comes first (list
scheduling, so tokens ahead are spread as a dispatcher would spread them). On one engine:

    prefill bound = start delay + margin + slowdown × T_prefill(tokens queued there + prompt
                    tokens of the requests kept there so far, its own included)
    slot bound    = start delay + margin + (time until a `max_num_seqs` slot is free for it)
                    + slowdown × T_prefill(its own prompt)
    predicted TTFT = the larger of the two

The start delay is the step in flight (or the caller's exact figure). With a free slot the slot
bound is below the prefill bound, and the prediction is SCORPIO's. With every slot taken, slots
free as the running requests finish: each running request frees its slot after the tokens it will
typically still produce (`output_length.OutputLengthEstimator.remaining`, given what it has
produced) times the engine's decode step at a full batch; a request kept on the engine takes the
first slot to free, and frees it again after its own typical output. The engine's own waiting
requests take slots before the gateway's. A rejected request adds no tokens and takes no slot: it
will not run.

Slot waits are predicted only when the caller asks (`SlotWaits`); without them the guard assumes,
as SCORPIO does, that the engine starts a new prefill after the step in flight, and a request
held back by full engines is rejected only once its slack runs out in the queue.

With a prefix view (`prefix_index.PrefixView`) a request's own tokens on an engine are the
prefill it would leave there: its prompt less the prefix that engine probably holds, plus the
attention of the new tokens over the cached ones. Without one, every prompt is prefilled whole.
"""

import collections
import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sloserve.scheduling import (
    engine_state,
    latency_model,
    output_length,
    prefix_index,
    request_queue,
    slo,
)

DEFAULT_MARGIN_S = 0.050
# One step of the walk: (request, engine index, predicted TTFT, slack).
_Step = tuple[slo.Request, int, float, float]
# The share of recent outputs longer than a running request's that it is taken to reach: a high
# quantile, since a slot wait behind a deep queue is a sum of many requests' ends, and output
# lengths are long-tailed (their median is well below their mean); a short estimate admits
# requests that are then rejected in the queue. 0.9 gave the most rejections at arrival in
# bench/gateway/overload.py's simulator run for the fewest served requests lost.
DEFAULT_RELEASE_QUANTILE = 0.9
# The share of its TTFT target an admitted request's prediction must leave free
# (`policy.PolicyConfig.admission_headroom`).
DEFAULT_ADMISSION_HEADROOM = 0.25


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


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotWaits:
    """Predict the wait for a free `max_num_seqs` slot from the running requests' typical
    remaining output (`output_lengths`, at `release_quantile`); see the module docstring."""

    output_lengths: output_length.OutputLengthEstimator
    release_quantile: float = DEFAULT_RELEASE_QUANTILE

    def __post_init__(self) -> None:
        if not 0 <= self.release_quantile <= 1:
            raise ValueError(
                f"release_quantile must be between 0 and 1, got {self.release_quantile!r}"
            )

    def remaining_tokens(self, *, max_tokens: int | None, generated: int) -> int:
        """Tokens a request will typically still produce."""
        return self.output_lengths.remaining(
            max_tokens=max_tokens, generated=generated, quantile=self.release_quantile
        )


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


def prefill_bound_s(
    *, fixed_s: float, slowdown: float, tokens: int, latency: latency_model.LatencyModel
) -> float:
    """A first token after `fixed_s` (start delay and margin) and the prefill of `tokens` on an
    engine slowed by `slowdown`: the one rule every TTFT prediction here is built from."""
    return fixed_s + slowdown * latency.prefill_time_s(tokens)


def engine_ttft_s(
    *,
    engine: engine_state.EngineState,
    latency: latency_model.LatencyModel,
    prompt_tokens_ahead: int,
    margin_s: float,
) -> float:
    """Predicted TTFT on `engine`, which has a free slot, of a request whose prefill follows the
    engine's queued tokens and `prompt_tokens_ahead` more (its own included)."""
    return prefill_bound_s(
        fixed_s=prefill_start_delay_s(engine, latency) + margin_s,
        slowdown=engine.slowdown,
        tokens=engine.queued_prefill_tokens + prompt_tokens_ahead,
        latency=latency,
    )


def idle_ttft_s(
    *,
    engine: engine_state.EngineState,
    latency: latency_model.LatencyModel,
    prompt_tokens: int,
    margin_s: float,
) -> float:
    """Predicted TTFT of a prompt of `prompt_tokens` on `engine` were it idle: when this exceeds
    a request's slack, no wait can help."""
    return prefill_bound_s(
        fixed_s=margin_s, slowdown=engine.slowdown, tokens=prompt_tokens, latency=latency
    )


def predict_in_order(
    *,
    ordered: Iterable[slo.Request],
    engines: Sequence[engine_state.EngineState],
    latency: latency_model.LatencyModel,
    now_s: float,
    margin_s: float = DEFAULT_MARGIN_S,
    slots: SlotWaits | None = None,
    prefix: prefix_index.PrefixView | None = None,
) -> Iterator[TTFTPrediction]:
    """Predict each request of `ordered` in turn, as described in the module docstring.

    Raises ValueError when `engines` is empty: with nowhere to run, there is nothing to predict.
    """
    for step in _walk(ordered, engines, latency, now_s, margin_s, slots, prefix):
        yield _prediction(step, engines)


def check_admission(
    *,
    candidate: slo.Request,
    queue: request_queue.RequestQueue,
    engines: Sequence[engine_state.EngineState],
    latency: latency_model.LatencyModel,
    now_s: float,
    margin_s: float = DEFAULT_MARGIN_S,
    slots: SlotWaits | None = None,
    protect_queued: bool = False,
    prefix: prefix_index.PrefixView | None = None,
) -> TTFTPrediction:
    """The candidate's prediction if it joined `queue` now: only the requests that would pop
    before it count against it.

    With `protect_queued`, the requests already admitted keep their places: a candidate that
    would pop ahead of a queued request and push it past its deadline (one that makes it
    without the candidate) is judged by its TTFT behind every queued request instead, so that
    the guard says no at arrival rather than to a request it admitted earlier.
    """
    ahead = tuple(queue.ahead_of(candidate))
    if not protect_queued:
        return _last_prediction(
            (*ahead, candidate), engines, latency, now_s, margin_s, slots, prefix
        )
    own: TTFTPrediction | None = None
    displaced: list[str] = []
    for step in _walk(
        (*ahead, candidate, *queue.behind(candidate)),
        engines,
        latency,
        now_s,
        margin_s,
        slots,
        prefix,
    ):
        request, _, predicted_ttft_s, slack_s = step
        if request is candidate:
            own = _prediction(step, engines)
            if not own.attainable:
                return own
        elif own is not None and slack_s < predicted_ttft_s:
            displaced.append(request.request_id)
    assert own is not None
    if not displaced:
        return own
    already_missing = {
        prediction.request.request_id
        for prediction in recheck(
            queue=queue,
            engines=engines,
            latency=latency,
            now_s=now_s,
            margin_s=margin_s,
            slots=slots,
            prefix=prefix,
        )
    }
    if all(request_id in already_missing for request_id in displaced):
        return own
    return _last_prediction((*queue, candidate), engines, latency, now_s, margin_s, slots, prefix)


def _last_prediction(
    ordered: Sequence[slo.Request],
    engines: Sequence[engine_state.EngineState],
    latency: latency_model.LatencyModel,
    now_s: float,
    margin_s: float,
    slots: SlotWaits | None,
    prefix: prefix_index.PrefixView | None,
) -> TTFTPrediction:
    """The prediction of the last request of `ordered`."""
    walk = _walk(ordered, engines, latency, now_s, margin_s, slots, prefix)
    # Only the last step of the walk is wanted.
    return _prediction(collections.deque(walk, maxlen=1)[0], engines)


def _prediction(step: _Step, engines: Sequence[engine_state.EngineState]) -> TTFTPrediction:
    request, engine_index, predicted_ttft_s, slack_s = step
    return TTFTPrediction(
        request=request,
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
    slots: SlotWaits | None = None,
    prefix: prefix_index.PrefixView | None = None,
) -> list[TTFTPrediction]:
    """The queued requests that have become unattainable by `now_s`, in queue order. The queue is
    not changed: the caller removes and rejects them."""
    return [
        _prediction(step, engines)
        for step in _walk(queue, engines, latency, now_s, margin_s, slots, prefix)
        if step[3] < step[2]
    ]


class _Lane:
    """One engine as the walk fills it: prompt tokens kept there, free slots, and (once every
    slot is taken) the times at which slots free, as a heap of seconds from now."""

    def __init__(
        self,
        engine: engine_state.EngineState,
        latency: latency_model.LatencyModel,
        margin_s: float,
        slots: SlotWaits | None,
    ) -> None:
        self.engine = engine
        self.latency = latency
        self.slots = slots
        self.fixed_s = prefill_start_delay_s(engine, latency) + margin_s
        self.slowdown = engine.slowdown
        self.tokens = engine.queued_prefill_tokens
        # without slot waits, slots are never short
        self.free_slots = 0 if slots is None else engine.max_num_seqs - len(engine.running)
        self.releases: list[float] | None = None
        # Every prefill the lane takes stalls the decoding requests for its length, so it
        # delays every release in the heap alike: the heap holds releases less `delay_s`.
        self.delay_s = 0.0
        self.step_s = 0.0
        # requests kept while slots were free, (their predicted TTFT, their max_tokens), and
        # their prefills' total time: their own slot releases are worked out only if the slots
        # run out
        self.kept_ttft_s: list[float] = []
        self.kept_max_tokens: list[int] = []
        self.kept_prefill_s = 0.0

    def predict(self, prompt_tokens: int) -> float:
        """The predicted TTFT here of a request of `prompt_tokens` behind those kept so far."""
        predicted_s = prefill_bound_s(
            fixed_s=self.fixed_s,
            slowdown=self.slowdown,
            tokens=self.tokens + prompt_tokens,
            latency=self.latency,
        )
        if self.slots is None or self.free_slots > 0:
            return predicted_s
        slot_bound_s = prefill_bound_s(
            fixed_s=self.fixed_s + self._releases()[0] + self.delay_s,
            slowdown=self.slowdown,
            tokens=prompt_tokens,
            latency=self.latency,
        )
        return max(predicted_s, slot_bound_s)

    def keep(self, request: slo.Request, predicted_ttft_s: float, prompt_tokens: int) -> None:
        """`request`, leaving `prompt_tokens` to prefill here, will run here, first token at
        `predicted_ttft_s`."""
        self.tokens += prompt_tokens
        if self.slots is None:
            return
        prefill_s = self.slowdown * self.latency.prefill_time_s(prompt_tokens)
        if self.free_slots > 0:
            self.free_slots -= 1
            if self.releases is None:
                self.kept_ttft_s.append(predicted_ttft_s)
                self.kept_max_tokens.append(request.max_tokens)
                self.kept_prefill_s += prefill_s
                return
            self.delay_s += prefill_s
            heapq.heappush(
                self.releases,
                self._release_s(predicted_ttft_s, request.max_tokens) - self.delay_s,
            )
            return
        releases = self._releases()
        self.delay_s += prefill_s
        heapq.heapreplace(
            releases, self._release_s(predicted_ttft_s, request.max_tokens) - self.delay_s
        )

    def _release_s(self, first_token_s: float, max_tokens: int | None) -> float:
        assert self.slots is not None
        remaining = self.slots.remaining_tokens(max_tokens=max_tokens, generated=0)
        return first_token_s + remaining * self.step_s

    def _releases(self) -> list[float]:
        """The slot releases, worked out when first needed."""
        releases = self.releases
        if releases is not None:
            return releases
        slots = self.slots
        assert slots is not None
        engine = self.engine
        self.step_s = self.slowdown * self.latency.decode_step_time_s(
            engine.max_num_seqs, engine.mean_context_tokens()
        )
        remaining = sorted(
            slots.remaining_tokens(
                max_tokens=running.max_tokens, generated=running.generated_tokens
            )
            for running in engine.running
        )
        # The requests that will end soonest hold slots now; any beyond max_num_seqs wait on
        # the engine (those with the most to do, having done nothing yet) and take the first
        # slots to free.
        holding = engine.max_num_seqs
        releases = [self.kept_prefill_s + tokens * self.step_s for tokens in remaining[:holding]]
        heapq.heapify(releases)
        for tokens in remaining[holding:]:
            heapq.heapreplace(releases, releases[0] + tokens * self.step_s)
        for first_token_s, max_tokens in zip(self.kept_ttft_s, self.kept_max_tokens, strict=True):
            heapq.heappush(releases, self._release_s(first_token_s, max_tokens))
        self.releases = releases
        return releases


def _walk(
    ordered: Iterable[slo.Request],
    engines: Sequence[engine_state.EngineState],
    latency: latency_model.LatencyModel,
    now_s: float,
    margin_s: float,
    slots: SlotWaits | None,
    prefix: prefix_index.PrefixView | None = None,
) -> Iterator[_Step]:
    """(request, engine index, predicted TTFT, slack) for each request in order."""
    if not engines:
        raise ValueError("engines is empty: the TTFT guard needs at least one engine to predict on")
    lanes = [_Lane(engine, latency, margin_s, slots) for engine in engines]
    for request in ordered:
        own = request.prompt_tokens
        if prefix is None or not request.prefix_hashes:
            best_own = own
            best_index = 0
            best_s = lanes[0].predict(own)
            for index in range(1, len(lanes)):
                ttft_s = lanes[index].predict(own)
                if ttft_s < best_s:
                    best_index, best_s = index, ttft_s
        else:
            best_own = prefix.prefill_tokens(request, lanes[0].engine.engine_id)
            best_index = 0
            best_s = lanes[0].predict(best_own)
            for index in range(1, len(lanes)):
                lane_own = prefix.prefill_tokens(request, lanes[index].engine.engine_id)
                ttft_s = lanes[index].predict(lane_own)
                if ttft_s < best_s:
                    best_index, best_s, best_own = index, ttft_s, lane_own
        slack_s = request.deadline_s - now_s
        if slack_s >= best_s:
            lanes[best_index].keep(request, best_s, best_own)
        yield request, best_index, best_s, slack_s
