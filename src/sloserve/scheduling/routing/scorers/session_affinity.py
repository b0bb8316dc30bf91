"""`session-affinity`: the engine that served a request's session last scores 1, every other 0.
A multi-turn conversation that comes back to the same engine finds its earlier context there
(vLLM's prefix cache). Requests name their session with `slo.Request.session_id`; requests
without one score 0 everywhere. The last engine of at most `max_sessions` sessions is
remembered, the least recently used forgotten first."""

import collections

from sloserve.scheduling import slo
from sloserve.scheduling.routing import contract

NAME = "session-affinity"
DEFAULT_MAX_SESSIONS = 100_000


class SessionAffinityScorer:
    """Scores the session's last engine 1; learns from every dispatch."""

    def __init__(self, *, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        if max_sessions < 1:
            raise ValueError(f"{NAME}: max_sessions must be at least 1, got {max_sessions!r}")
        self._max_sessions = max_sessions
        self._last_engine: collections.OrderedDict[str, str] = collections.OrderedDict()

    @property
    def name(self) -> str:
        return NAME

    def score(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[float]:
        session = route.request.session_id
        last = None if session is None else self._last_engine.get(session)
        return [1.0 if candidate.engine.engine_id == last else 0.0 for candidate in candidates]

    def dispatched(self, request: slo.Request, engine_id: str) -> None:
        session = request.session_id
        if session is None:
            return
        remembered = self._last_engine
        remembered[session] = engine_id
        remembered.move_to_end(session)
        if len(remembered) > self._max_sessions:
            remembered.popitem(last=False)
