"""The routing plugin contract, and the records plugins read and write.

A routing decision for one request runs, in order:

1. every **filter** (`Filter.filter`): the engines that may take the request now, a subset of
   those given, in their order; a filter that drops an engine says why in its `reason`;
2. every **scorer** (`Scorer.score`): one score in [0, 1] per remaining engine, higher better;
   the profile sums weight × score per engine;
3. the **picker** (`Picker.pick`): the index of the chosen engine among the scored ones.

Plugins are called once per decision with every candidate engine (not once per engine), so a
plugin can normalise across engines and the per-call cost stays small. They must not keep
references to the candidates after returning. A plugin that needs to know where requests went
(session affinity) also implements `DispatchObserver`: the scheduler tells it of every dispatch.

`Candidate` carries the engine's snapshot and the predictions plugins share: the first plugin
that needs the request's predicted TTFT on an engine computes it (`Candidate.ttft_s`) and later
ones read the same figure. Per-engine signals that the core does not know (a prefix-cache index,
for instance) travel in the snapshot's `engine_state.EngineState.signals`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sloserve.scheduling import engine_state, latency_model, outcomes, slo, ttft_guard


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteRequest:
    """One request being routed: `now_s` on the scheduler's clock, its `slack_s` then, and the
    output tokens the scheduler expects of it (`output_tokens`).

    With a prefix index, `cached_tokens` holds the prompt tokens each engine (by id) probably has
    cached, and `prefill_tokens` the prefill the request would leave there (uncached tokens plus
    their attention over the cache, in tokens); None without one (every prompt whole)."""

    request: slo.Request
    now_s: float
    slack_s: float
    output_tokens: int
    cached_tokens: Mapping[str, int] | None = None
    prefill_tokens: Mapping[str, int] | None = None

    def prefill_tokens_on(self, engine_id: str) -> int:
        """The prompt tokens the request would leave to prefill on `engine_id`."""
        prefill = self.prefill_tokens
        if prefill is None:
            return self.request.prompt_tokens
        return prefill.get(engine_id, self.request.prompt_tokens)

    def cached_tokens_on(self, engine_id: str) -> int:
        """The prompt tokens `engine_id` probably has cached for the request."""
        cached = self.cached_tokens
        return 0 if cached is None else cached.get(engine_id, 0)


class Candidate:
    """One engine as a candidate for one request, with the predictions computed for it so far
    (None until some plugin needs them)."""

    __slots__ = ("completion_s", "engine", "ttft_prediction_s")

    def __init__(self, engine: engine_state.EngineState) -> None:
        self.engine = engine
        self.ttft_prediction_s: float | None = None
        self.completion_s: float | None = None

    def ttft_s(
        self, route: RouteRequest, latency: latency_model.LatencyModel, margin_s: float
    ) -> float:
        """The request's predicted TTFT here, were it sent now (`ttft_guard.engine_ttft_s`);
        computed once per candidate."""
        found = self.ttft_prediction_s
        if found is None:
            found = self.ttft_prediction_s = ttft_guard.engine_ttft_s(
                engine=self.engine,
                latency=latency,
                prompt_tokens_ahead=route.prefill_tokens_on(self.engine.engine_id),
                margin_s=margin_s,
            )
        return found


class Filter(Protocol):
    """Drops the engines that cannot take the request now."""

    @property
    def name(self) -> str:
        """The plugin's type name, for logs and configuration."""
        ...

    @property
    def reason(self) -> str:
        """Why a dropped engine cannot take the request, for the `Wait` reason."""
        ...

    def filter(self, route: RouteRequest, candidates: list[Candidate]) -> list[Candidate]:
        """The candidates that pass, in their given order."""
        ...


class Scorer(Protocol):
    """Scores each candidate in [0, 1]; higher is better."""

    @property
    def name(self) -> str:
        """The plugin's type name, for logs and configuration."""
        ...

    def score(self, route: RouteRequest, candidates: list[Candidate]) -> list[float]:
        """One score in [0, 1] per candidate, in their order."""
        ...


class Picker(Protocol):
    """Chooses one of the scored candidates."""

    @property
    def name(self) -> str:
        """The plugin's type name, for logs and configuration."""
        ...

    def pick(self, candidates: Sequence[Candidate], totals: Sequence[float]) -> int:
        """The index of the chosen candidate; `totals` holds Σ weight × score per candidate."""
        ...


class DispatchObserver(Protocol):
    """A plugin that learns from where requests were sent: any plugin with this method is one."""

    def dispatched(self, request: slo.Request, engine_id: str) -> None:
        """`request` was sent to `engine_id`."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Send the request to `engine_id`; predictions in seconds from now, None when not made."""

    engine_id: str
    predicted_ttft_s: float | None = None
    predicted_completion_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """No engine can take the request now, but one could later; `reason` says what blocks it."""

    reason: str


RouteDecision = Placement | Wait | outcomes.Rejected
