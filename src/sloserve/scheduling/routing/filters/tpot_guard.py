"""`tpot-guard`: engines where the TPOT guard admits the request (`scheduling.tpot_guard`: the
predicted decode step at the virtual batch size with it stays below its tightest target)."""

from sloserve.scheduling import latency_model, tpot_guard
from sloserve.scheduling.routing import contract

NAME = "tpot-guard"


class TPOTGuardFilter:
    """Drops engines whose steps would get too slow with the request."""

    def __init__(
        self,
        *,
        latency: latency_model.LatencyModel,
        inefficiency: float = tpot_guard.DEFAULT_INEFFICIENCY,
        headroom: float = tpot_guard.DEFAULT_HEADROOM,
    ) -> None:
        self._latency = latency
        self._inefficiency = inefficiency
        self._headroom = headroom

    @property
    def name(self) -> str:
        return NAME

    @property
    def reason(self) -> str:
        return "the TPOT guard holds it back: the engines' steps would get too slow"

    def filter(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[contract.Candidate]:
        request = route.request
        return [
            candidate
            for candidate in candidates
            if tpot_guard.check(
                engine=candidate.engine,
                tpot_s=request.tpot_s,
                context_tokens=request.prompt_tokens,
                latency=self._latency,
                inefficiency=self._inefficiency,
                headroom=self._headroom,
            ).admitted
        ]
