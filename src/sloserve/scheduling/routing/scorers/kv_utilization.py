"""`kv-cache-utilization`: llm-d's KV-cache utilization scorer, 1 − the engine's KV usage.
The usage is read from the engine's free KV tokens against its capacity, the signal
`KV_CAPACITY_SIGNAL` of the snapshot (tokens); without it, against the most free among the
candidates. Engines that do not report their KV cache score 1."""

from sloserve.scheduling.routing import contract

NAME = "kv-cache-utilization"
KV_CAPACITY_SIGNAL = "kv_capacity_tokens"


class KVUtilizationScorer:
    """Scores engines by how much of their KV cache is free."""

    @property
    def name(self) -> str:
        return NAME

    def score(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[float]:
        most_free = max(
            (c.engine.kv_free_tokens or 0 for c in candidates),
            default=0,
        )
        scores: list[float] = []
        for candidate in candidates:
            engine = candidate.engine
            free = engine.kv_free_tokens
            if free is None:
                scores.append(1.0)
                continue
            capacity = engine.signals.get(KV_CAPACITY_SIGNAL)
            total = float(capacity) if isinstance(capacity, int | float) and capacity > 0 else 0.0
            if total <= 0:
                total = float(most_free)
            scores.append(min(1.0, free / total) if total > 0 else 1.0)
        return scores
