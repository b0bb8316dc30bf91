"""`round-robin`: a picker that takes the candidates in turn, whatever their scores — the
plain router's policy (vllm-router's `round_robin`). Candidates are taken by engine id, so the
turn does not depend on the order of the caller's snapshots."""

from collections.abc import Sequence

from sloserve.scheduling.routing import contract

NAME = "round-robin"


class RoundRobinPicker:
    """The next engine id after the last one picked, wrapping around."""

    def __init__(self) -> None:
        self._last: str | None = None

    @property
    def name(self) -> str:
        return NAME

    def pick(self, candidates: Sequence[contract.Candidate], totals: Sequence[float]) -> int:
        ids = [candidate.engine.engine_id for candidate in candidates]
        ordered = sorted(range(len(ids)), key=lambda index: ids[index])
        last = self._last
        chosen = ordered[0]
        if last is not None:
            for index in ordered:
                if ids[index] > last:
                    chosen = index
                    break
        self._last = ids[chosen]
        return chosen
