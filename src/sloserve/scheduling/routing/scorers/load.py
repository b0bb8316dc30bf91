"""`load`: what a plain router balances on. Fewer requests on the engine score higher; among
engines with as many requests, fewer prompt tokens still to prefill. The engine with the fewest
scores highest, and an engine's score orders it exactly as the pair (requests, queued prompt
tokens) would."""

from sloserve.scheduling.routing import contract

NAME = "load"


class LoadScorer:
    """Scores engines by how little they hold."""

    @property
    def name(self) -> str:
        return NAME

    def score(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[float]:
        most_requests = 0
        most_tokens = 0
        for candidate in candidates:
            most_requests = max(most_requests, len(candidate.engine.running))
            most_tokens = max(most_tokens, candidate.engine.queued_prefill_tokens)
        # requests + a fraction in [0, 1) for the tokens: in [0, most_requests + 1)
        scale = 1.0 / (most_requests + 1)
        token_scale = 1.0 / (most_tokens + 1)
        return [
            1.0
            - scale
            * (len(candidate.engine.running) + candidate.engine.queued_prefill_tokens * token_scale)
            for candidate in candidates
        ]
