"""One admitted request's bookkeeping: how it ended, told to the scheduler and to the metrics.

Every request counted in `sloserve_requests_total` ends in exactly one of
`sloserve_requests_rejected_total` (by reason) or `sloserve_requests_finished_total` (by outcome);
`end_*` methods are idempotent so that a path that ends a request twice cannot count it twice.
A rejection after admission also counts in `sloserve_requests_rejected_after_admission_total`.
An engine's 4xx answer finishes the request as `client_error`: the engine judged the request
itself (a parameter it refuses, an output budget beyond the context), which no scheduling could
have served, so attainment leaves it out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sloserve.gateway import metrics, runtime
from sloserve.scheduling import outcomes, slo

# The finished outcome of a request an engine refused with a 4xx.
CLIENT_ERROR = "client_error"


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
    sequences: int = 1
    """Sequences the engine runs for it (a batch prompt's members times `n`)."""
    ended: bool = field(default=False)

    def end_served_stream(self, timing: TokenTiming) -> None:
        """A stream that reached `[DONE]`: TTFT from arrival, TPOT after the first token. A
        stream of one sequence is also shown to online calibration, before the request leaves
        its engine's ledger."""
        if (
            not self.ended
            and self.sequences == 1
            and timing.first_token_s is not None
            and timing.last_token_s is not None
        ):
            self.model_runtime.observe_stream(
                self.request,
                first_token_s=timing.first_token_s,
                last_token_s=timing.last_token_s,
                tokens=timing.tokens,
            )
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

    def end_client_error(self) -> None:
        """The engine refused the request with a 4xx."""
        self._close(outcomes.FinishOutcome.FAILED, None, label=CLIENT_ERROR)

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
        self.series.rejected_after_admission(reason).inc()

    def _close(
        self, outcome: outcomes.FinishOutcome, tokens: int | None, *, label: str | None = None
    ) -> bool:
        """Tell the scheduler and count the outcome (`label`, else the outcome's own); True
        when the request had already ended."""
        if self.ended:
            return True
        self.ended = True
        self.model_runtime.finish(self.request.request_id, outcome, output_tokens=tokens)
        self.series.finished(label or outcome.value).inc()
        return False


def _completion_tokens(body: bytes) -> int | None:
    try:
        usage = json.loads(body).get("usage") or {}
    except (ValueError, AttributeError):
        return None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) and tokens >= 0 else None
