"""`predicted-completion`: SCORPIO's routing objective. An engine's predicted completion is the
request's predicted TTFT there plus its expected output tokens times the predicted time per
token (one decode step with it in the batch, slowed by the engine's co-location slowdown). The
earliest completion scores 1; another scores earliest / its own, so the order of scores is the
order of completions."""

from sloserve.scheduling import latency_model, ttft_guard
from sloserve.scheduling.routing import contract

NAME = "predicted-completion"


class PredictedCompletionScorer:
    """Scores engines by how soon the request would be done there."""

    def __init__(
        self, *, latency: latency_model.LatencyModel, margin_s: float = ttft_guard.DEFAULT_MARGIN_S
    ) -> None:
        self._latency = latency
        self._margin_s = margin_s

    @property
    def name(self) -> str:
        return NAME

    def score(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[float]:
        latency = self._latency
        margin_s = self._margin_s
        prompt_tokens = route.request.prompt_tokens
        output_tokens = route.output_tokens
        completions: list[float] = []
        earliest_s = 0.0
        for candidate in candidates:
            engine = candidate.engine
            per_token_s = engine.slowdown * latency.decode_step_time_s(
                len(engine.running) + 1,
                engine.mean_context_tokens(extra_context_tokens=prompt_tokens),
            )
            completion_s = candidate.ttft_s(route, latency, margin_s) + output_tokens * per_token_s
            candidate.completion_s = completion_s
            if not completions or completion_s < earliest_s:
                earliest_s = completion_s
            completions.append(completion_s)
        return [earliest_s / completion_s for completion_s in completions]
