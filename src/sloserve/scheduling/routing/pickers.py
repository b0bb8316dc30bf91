"""Pickers: choose one of the scored engines (see `routing.contract.Picker`).

`highest-score`: the engine with the highest Σ weight × score; among equal totals, the first
given (the order of the caller's snapshots), so a decision is reproducible.
"""

from collections.abc import Sequence

from sloserve.scheduling.routing import contract

HIGHEST_SCORE = "highest-score"


class HighestScorePicker:
    """The best total, first among ties."""

    @property
    def name(self) -> str:
        return HIGHEST_SCORE

    def pick(self, candidates: Sequence[contract.Candidate], totals: Sequence[float]) -> int:
        best = 0
        for index in range(1, len(totals)):
            if totals[index] > totals[best]:
                best = index
        return best
