"""`cache-aware`: vllm-router's `cache_aware` policy (inherited from SGLang's router), as a
scorer that gives its chosen engine 1 and every other 0.

Its rule, per request: when the load is imbalanced — the most and least outstanding requests on
an engine differ by more than `balance_abs_threshold` and the most exceeds the least times
`balance_rel_threshold` — the least loaded engine. Otherwise, when some engine's approximate tree
of routed prompts matches more than `cache_threshold` of the prompt, the engine with the longest
match; else the engine holding the least routed content (the smallest tree), so that new
prefixes spread. The approximate tree here is the gateway's prefix index (`prefix_index`), the
routed content its recorded blocks. Defaults are the router's: 0.5, 32 and 1.0001.
"""

from sloserve.scheduling import prefix_index
from sloserve.scheduling.routing import contract

NAME = "cache-aware"
DEFAULT_CACHE_THRESHOLD = 0.5
DEFAULT_BALANCE_ABS_THRESHOLD = 32
DEFAULT_BALANCE_REL_THRESHOLD = 1.0001


class CacheAwareScorer:
    """vllm-router's cache_aware choice, as a one-hot score."""

    def __init__(
        self,
        *,
        index: prefix_index.PrefixIndex,
        cache_threshold: float = DEFAULT_CACHE_THRESHOLD,
        balance_abs_threshold: int = DEFAULT_BALANCE_ABS_THRESHOLD,
        balance_rel_threshold: float = DEFAULT_BALANCE_REL_THRESHOLD,
    ) -> None:
        self._index = index
        self._cache_threshold = cache_threshold
        self._abs = balance_abs_threshold
        self._rel = balance_rel_threshold

    @property
    def name(self) -> str:
        return NAME

    def score(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[float]:
        loads = [len(candidate.engine.running) for candidate in candidates]
        least, most = min(loads), max(loads)
        if most - least > self._abs and most > least * self._rel:
            chosen = loads.index(least)
        else:
            prompt = route.request.prompt_tokens
            matches = [route.cached_tokens_on(c.engine.engine_id) for c in candidates]
            best = max(matches)
            if best / prompt > self._cache_threshold:
                chosen = matches.index(best)
            else:
                sizes = [self._index.blocks_on(c.engine.engine_id) for c in candidates]
                chosen = sizes.index(min(sizes))
        return [1.0 if index == chosen else 0.0 for index in range(len(candidates))]
