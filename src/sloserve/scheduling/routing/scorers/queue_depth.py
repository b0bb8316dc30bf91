"""`queue`: llm-d's queue scorer. Fewer requests waiting on the engine score higher, scaled
between the candidates' least and most waiting (1 for all when they wait alike)."""

from sloserve.scheduling.routing import contract

NAME = "queue"


class QueueScorer:
    """Scores engines by how few requests wait there."""

    @property
    def name(self) -> str:
        return NAME

    def score(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[float]:
        depths = [candidate.engine.waiting_requests for candidate in candidates]
        least, most = min(depths), max(depths)
        if most == least:
            return [1.0] * len(candidates)
        return [(most - depth) / (most - least) for depth in depths]
