"""`prefix-affinity`: while a request is young, only the engines that probably hold at least
`min_share` of its prompt in their prefix cache (`RouteRequest.cached_tokens`), when any does.

Later filters (room, prefill meter, guards) may then drop those engines for now, and the request
waits for one of them rather than going cold to another: a multi-turn conversation finds its
history again, at the price of a short wait. The wait is bounded by the request's own target:
once it has waited `max_wait_share` of its TTFT target, the filter stops restricting and any
engine may take it (the TTFT guard still rejects it when no engine can make its deadline).
Requests with no such engine pass unfiltered."""

from sloserve.scheduling.routing import contract

NAME = "prefix-affinity"
DEFAULT_MIN_SHARE = 0.5
DEFAULT_MAX_WAIT_SHARE = 0.25


class PrefixAffinityFilter:
    """Keeps the engines that hold most of the prompt, while the request may still wait."""

    def __init__(
        self,
        *,
        min_share: float = DEFAULT_MIN_SHARE,
        max_wait_share: float = DEFAULT_MAX_WAIT_SHARE,
    ) -> None:
        if not 0 < min_share <= 1:
            raise ValueError(f"{NAME}: min_share must be in (0, 1], got {min_share!r}")
        if not 0 <= max_wait_share <= 1:
            raise ValueError(f"{NAME}: max_wait_share must be in [0, 1], got {max_wait_share!r}")
        self._min_share = min_share
        self._max_wait_share = max_wait_share

    @property
    def name(self) -> str:
        return NAME

    @property
    def reason(self) -> str:
        return "the engines holding its prompt's prefix have no room for it yet"

    def filter(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[contract.Candidate]:
        if route.cached_tokens is None:
            return candidates
        request = route.request
        waited_s = request.ttft_s - route.slack_s
        if waited_s > self._max_wait_share * request.ttft_s:
            return candidates
        least = self._min_share * request.prompt_tokens
        holders = [
            candidate
            for candidate in candidates
            if route.cached_tokens_on(candidate.engine.engine_id) >= least
        ]
        return holders or candidates
