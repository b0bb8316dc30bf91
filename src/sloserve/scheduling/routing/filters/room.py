"""`room`: engines where the request would start at once — under `max_num_seqs`, fewer than
`max_waiting` requests waiting (None: no limit), and its prompt's KV cache fits
(`engine_state.EngineState.has_room`)."""

from sloserve.scheduling.routing import contract

NAME = "room"


class RoomFilter:
    """Drops engines without room for the request."""

    def __init__(self, *, max_waiting: int | None) -> None:
        if max_waiting is not None and max_waiting < 1:
            raise ValueError(f"{NAME}: max_waiting must be at least 1 or None, got {max_waiting!r}")
        self._max_waiting = max_waiting

    @property
    def name(self) -> str:
        return NAME

    @property
    def reason(self) -> str:
        return "every engine is full (max_num_seqs, waiting requests or free KV cache)"

    def filter(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[contract.Candidate]:
        prompt_tokens = route.request.prompt_tokens
        max_waiting = self._max_waiting
        return [
            candidate
            for candidate in candidates
            if candidate.engine.has_room(prompt_tokens=prompt_tokens, max_waiting=max_waiting)
        ]
