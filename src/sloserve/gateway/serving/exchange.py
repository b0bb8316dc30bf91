"""One admitted request's bookkeeping: how it ended, told to the scheduler and to the metrics.

Every request counted in `sloserve_requests_total` ends in exactly one of
`sloserve_requests_rejected_total` (by reason) or `sloserve_requests_finished_total` (by outcome);
`end_*` methods are idempotent so that a path that ends a request twice cannot count it twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sloserve.gateway import metrics, runtime
from sloserve.scheduling import outcomes, slo


@dataclass(frozen=True)
class TokenTiming:
    """When the first and last tokens reached the gateway (monotonic seconds) and how many."""

    first_token_s: float | None
    last_token_s: float | None
    tokens: int


@dataclass
class Exchange:
    """An admitted request on its way through the gateway."""

    request: slo.Request
    model_runtime: runtime.ModelRuntime
    series: metrics.ClassSeries
    ended: bool = field(default=False)

    def end_served_stream(self, timing: TokenTiming) -> None:
        """A stream that reached `[DONE]`: TTFT from arrival, TPOT after the first token."""
        if self._close(outcomes.FinishOutcome.SERVED, timing.tokens):
            return
        m = self.series
        m.output_tokens.inc(timing.tokens)
        if timing.first_token_s is None or timing.last_token_s is None:
            attained = False
        else:
            ttft_s = timing.first_token_s - self.request.arrival_s
            m.ttft.observe(ttft_s)
            attained = ttft_s <= self.request.ttft_s
            if timing.tokens > 1:
                tpot_s = (timing.last_token_s - timing.first_token_s) / (timing.tokens - 1)
                m.tpot.observe(tpot_s)
                attained = attained and tpot_s <= self.request.tpot_s
        if attained:
            m.attained.inc()

    def end_served_whole(self, *, body: bytes, answered_s: float) -> None:
        """A whole answer. The client saw its first token with the last, so the request met its
        objectives when the answer came before the last token was due: arrival + TTFT target +
        TPOT target × (tokens − 1). TTFT and TPOT histograms are not observed: neither was seen."""
        tokens = _completion_tokens(body)
        if self._close(outcomes.FinishOutcome.SERVED, tokens):
            return
        m = self.series
        if tokens is not None:
            m.output_tokens.inc(tokens)
        due_s = self.request.deadline_s + self.request.tpot_s * max((tokens or 1) - 1, 0)
        if answered_s <= due_s:
            m.attained.inc()

    def end_failed(self, *, tokens: int = 0) -> None:
        if self._close(outcomes.FinishOutcome.FAILED, tokens):
            return
        if tokens:
            self.series.output_tokens.inc(tokens)

    def end_cancelled(self, *, tokens: int = 0) -> None:
        if self._close(outcomes.FinishOutcome.CANCELLED, tokens):
            return
        if tokens:
            self.series.output_tokens.inc(tokens)

    def end_rejected(self, reason: str) -> None:
        """The scheduler rejected the request after admitting it (it no longer holds it)."""
        if self.ended:
            return
        self.ended = True
        self.series.rejected(reason).inc()

    def _close(self, outcome: outcomes.FinishOutcome, tokens: int | None) -> bool:
        """Tell the scheduler; True when the request had already ended."""
        if self.ended:
            return True
        self.ended = True
        self.model_runtime.finish(self.request.request_id, outcome, output_tokens=tokens)
        self.series.finished(outcome.value).inc()
        return False


def _completion_tokens(body: bytes) -> int | None:
    try:
        usage = json.loads(body).get("usage") or {}
    except (ValueError, AttributeError):
        return None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) and tokens >= 0 else None
