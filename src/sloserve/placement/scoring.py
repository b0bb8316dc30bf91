"""Scoring a node for a new engine: the predicted slowdown of the new engine beside the node's GPU
workloads, and of each of those workloads once the new engine joins them.

A node's GPU workloads are treated as co-runners on a shared GPU (time-slicing or MPS, as the
node's sharing label says, of the product its GPU product label names), which is the situation
the co-location datasets measured. One onnxruntime call predicts every engine on every candidate
node of a request at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sloserve.placement.features import PreparedSeries
from sloserve.placement.metrics import SharingMode
from sloserve.placement.predictors import Predictor
from sloserve.placement.tree_features import ModelRow

__all__ = ["MAX_SCORE", "NodeAssessment", "NodeQuery", "NodeScorer", "Resident"]

#: kube-scheduler's extender scores run from 0 to this.
MAX_SCORE = 10
#: P below this is treated as this, so a slowdown is always finite.
_MIN_P = 1e-3


@dataclasses.dataclass(frozen=True, eq=False)
class Resident:
    """A GPU workload already on the node, with its series."""

    name: str
    series: PreparedSeries


@dataclasses.dataclass(frozen=True)
class NodeAssessment:
    """Predicted slowdowns (1 = none; co-located step time / solo step time) on one node.

    Attributes:
        node: node name.
        mode: how the node's GPUs are shared.
        candidate_slowdown: the new engine's, beside the node's workloads.
        resident_slowdowns: (workload, its slowdown once the new engine joins), per workload.
    """

    node: str
    mode: str
    candidate_slowdown: float
    resident_slowdowns: tuple[tuple[str, float], ...]
    gpu: str | None = None

    @property
    def worst(self) -> tuple[str, float]:
        """The most slowed engine on the node (`candidate` for the new one) and its slowdown."""
        entries = [("candidate", self.candidate_slowdown), *self.resident_slowdowns]
        return max(entries, key=lambda entry: entry[1])

    def score(self) -> int:
        """0..MAX_SCORE: MAX_SCORE times the worst-off engine's P (1 / its slowdown), rounded.
        An empty node scores MAX_SCORE; a node where some engine would run twice as slow, 5."""
        return round(MAX_SCORE / self.worst[1])

    def exceeds(self, limit: float) -> bool:
        return self.worst[1] > limit

    def reason(self, limit: float) -> str:
        """Why the node is refused under `limit`, naming the engine and the prediction."""
        who, slowdown = self.worst
        subject = "the new engine" if who == "candidate" else f"{who} (already there)"
        return (
            f"predicted slowdown of {subject} would be {slowdown:.2f}x under {self.mode}, "
            f"above maxPredictedSlowdown {limit:g}"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class NodeQuery:
    """What one node assessment needs: the node, how its GPU is shared, the new engine's series,
    the workloads already there, and the idle series that fills empty neighbour slots."""

    node: str
    mode: str
    candidate: PreparedSeries
    residents: tuple[Resident, ...]
    idle: PreparedSeries
    gpu: str | None = None
    """The node's GPU product key (`H100`), None when the node does not say."""

    def rows(self, gpu_code: float) -> list[ModelRow]:
        """Model inputs: the candidate beside the residents, then each resident beside the
        others and the candidate."""
        series = [resident.series for resident in self.residents]
        mode = SharingMode.code(self.mode)

        def row(candidate: PreparedSeries, neighbours: list[PreparedSeries]) -> ModelRow:
            return ModelRow(candidate, tuple(neighbours), self.idle, mode, gpu_code)

        rows = [row(self.candidate, series)]
        for index, resident in enumerate(self.residents):
            others = series[:index] + series[index + 1 :]
            rows.append(row(resident.series, [*others, self.candidate]))
        return rows


class NodeScorer:
    """Assesses nodes with one predictor: all nodes of a scheduling request in one model call."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def _gpu_code(self, gpu: str | None) -> float:
        # An unknown product reads as the first GPU the model was trained on.
        gpus = self.predictor.gpus
        return float(gpus.index(gpu)) if gpu in gpus else 0.0

    def assess_many(self, queries: Sequence[NodeQuery]) -> list[NodeAssessment]:
        """One assessment per query, in order. A node without residents predicts no slowdown
        (no neighbour, no interference) and costs no model input."""
        busy = [query for query in queries if query.residents]
        predicted: dict[int, list[float]] = {}
        if busy:
            rows: list[ModelRow] = []
            spans = []
            for query in busy:
                query_rows = query.rows(self._gpu_code(query.gpu))
                spans.append((id(query), len(rows), len(rows) + len(query_rows)))
                rows += query_rows
            p = self.predictor.predict_rows(rows)
            # P slightly above 1 is measurement noise in the labels, not a speed-up.
            slowdowns = [round(max(1.0, 1.0 / max(float(value), _MIN_P)), 4) for value in p]
            predicted = {key: slowdowns[start:end] for key, start, end in spans}
        return [self._assessment(query, predicted.get(id(query))) for query in queries]

    def assess(self, query: NodeQuery) -> NodeAssessment:
        """The new engine's and every resident's predicted slowdown if the new engine joins."""
        return self.assess_many([query])[0]

    @staticmethod
    def _assessment(query: NodeQuery, slowdowns: list[float] | None) -> NodeAssessment:
        if slowdowns is None:
            return NodeAssessment(
                node=query.node,
                mode=query.mode,
                candidate_slowdown=1.0,
                resident_slowdowns=(),
                gpu=query.gpu,
            )
        return NodeAssessment(
            node=query.node,
            mode=query.mode,
            candidate_slowdown=slowdowns[0],
            resident_slowdowns=tuple(
                (resident.name, slowdown)
                for resident, slowdown in zip(query.residents, slowdowns[1:], strict=True)
            ),
            gpu=query.gpu,
        )
