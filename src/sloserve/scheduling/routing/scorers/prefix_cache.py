"""`prefix-cache`: the share of the request's prompt an engine probably has in its prefix cache
(`prefix_index.PrefixIndex`, learnt from where earlier requests went), in [0, 1]: the prefix
scorer of llm-d's endpoint picker and AIBrix's prefix-cache router. Requests whose content the
gateway does not know score 0 everywhere."""

from sloserve.scheduling.routing import contract

NAME = "prefix-cache"


class PrefixCacheScorer:
    """Scores engines by the cached share of the prompt."""

    @property
    def name(self) -> str:
        return NAME

    def score(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[float]:
        prompt = route.request.prompt_tokens
        return [
            route.cached_tokens_on(candidate.engine.engine_id) / prompt for candidate in candidates
        ]
