"""`ttft-guard`: engines where the request's predicted TTFT, were it sent now, fits its slack
(`scheduling.ttft_guard.engine_ttft_s`; the prediction is kept on the candidate for the
scorers)."""

from sloserve.scheduling import latency_model, ttft_guard
from sloserve.scheduling.routing import contract

NAME = "ttft-guard"


class TTFTGuardFilter:
    """Drops engines where the request would miss its TTFT."""

    def __init__(
        self, *, latency: latency_model.LatencyModel, margin_s: float = ttft_guard.DEFAULT_MARGIN_S
    ) -> None:
        self._latency = latency
        self._margin_s = margin_s

    @property
    def name(self) -> str:
        return NAME

    @property
    def reason(self) -> str:
        return "its predicted TTFT does not fit its slack on an engine with room now"

    def filter(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[contract.Candidate]:
        latency = self._latency
        margin_s = self._margin_s
        slack_s = route.slack_s
        return [
            candidate
            for candidate in candidates
            if candidate.ttft_s(route, latency, margin_s) <= slack_s
        ]
