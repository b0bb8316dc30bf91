"""A routing profile: its filters in order, its weighted scorers and its picker, composed.

`route` answers with a `Placement` on the picked engine, or, when the filters left none, a
rejection if no engine could serve the request even idle (`feasibility`), else a `Wait` naming
what held it back. The profile tells its dispatch observers of every dispatch (`dispatched`).
"""

from collections.abc import Mapping, Sequence

from sloserve.scheduling import engine_state, slo
from sloserve.scheduling.routing import contract, feasibility

WeightedScorer = tuple[float, contract.Scorer]


class RoutingProfile:
    """Filters, then Σ weight × score, then the picker."""

    def __init__(
        self,
        *,
        filters: Sequence[contract.Filter],
        scorers: Sequence[WeightedScorer],
        picker: contract.Picker,
        feasible: feasibility.Feasibility | None = None,
        observers: Sequence[contract.DispatchObserver] = (),
    ) -> None:
        for weight, scorer in scorers:
            if not weight >= 0:
                raise ValueError(
                    f"scorer {scorer.name!r}: weight must be a number at or above zero, "
                    f"got {weight!r}"
                )
        self.filters = tuple(filters)
        self.scorers = tuple(scorers)
        self.picker = picker
        self._feasible = feasible
        self._observers = tuple(observers)

    def route(
        self,
        *,
        request: slo.Request,
        engines: Sequence[engine_state.EngineState],
        now_s: float,
        output_tokens: int,
        cached_tokens: Mapping[str, int] | None = None,
        prefill_tokens: Mapping[str, int] | None = None,
    ) -> contract.RouteDecision:
        """Place `request`, expected to produce `output_tokens` tokens, on one of `engines`;
        `cached_tokens` and `prefill_tokens` as `contract.RouteRequest` has them."""
        route = contract.RouteRequest(
            request=request,
            now_s=now_s,
            slack_s=request.slack_s(now_s),
            output_tokens=output_tokens,
            cached_tokens=cached_tokens,
            prefill_tokens=prefill_tokens,
        )
        candidates = [contract.Candidate(engine) for engine in engines]
        blocked: list[str] = []
        for plugin in self.filters:
            if not candidates:
                break
            kept = plugin.filter(route, candidates)
            if len(kept) < len(candidates):
                blocked.append(plugin.reason)
            candidates = kept
        if not candidates:
            rejection = None
            if self._feasible is not None:
                rejection = self._feasible.unattainable(
                    request, engines, now_s, route.prefill_tokens
                )
            return rejection or contract.Wait(reason="; ".join(blocked) or "no engines were given")
        totals = [0.0] * len(candidates)
        for weight, scorer in self.scorers:
            scores = scorer.score(route, candidates)
            if len(scores) != len(candidates):
                raise ValueError(
                    f"scorer {scorer.name!r} gave {len(scores)} scores for "
                    f"{len(candidates)} engines; it must give one per engine"
                )
            for index, score in enumerate(scores):
                totals[index] += weight * score
        chosen = candidates[self.picker.pick(candidates, totals)]
        return contract.Placement(
            engine_id=chosen.engine.engine_id,
            predicted_ttft_s=chosen.ttft_prediction_s,
            predicted_completion_s=chosen.completion_s,
        )

    def dispatched(self, request: slo.Request, engine_id: str) -> None:
        """Tell the observers that `request` went to `engine_id`."""
        for observer in self._observers:
            observer.dispatched(request, engine_id)
