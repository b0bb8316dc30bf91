"""Scoring a node for a new engine: the predicted slowdown of the new engine beside the node's GPU
workloads, and of each of those workloads once the new engine joins them.

A node's GPU workloads are treated as co-runners on a shared GPU (time-slicing or MPS, as the
node's sharing label says, of the product its GPU product label names), which is the situation
the co-location datasets measured. One onnxruntime call predicts every engine on every candidate
node of a request at once.
"""

from __future__ import annotations

import dataclasses
import math
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
    """A GPU workload already on the node, with its series and its own limit on predicted
    slowdown (None when it declares none)."""

    name: str
    series: PreparedSeries
    limit: float | None = None


@dataclasses.dataclass(frozen=True)
class NodeAssessment:
    """Predicted slowdowns (1 = none; co-located step time / solo step time) on one node.

    Attributes:
        node: node name.
        mode: how the node's GPUs are shared.
        candidate_slowdown: the new engine's, beside the node's workloads.
        resident_slowdowns: (workload, its slowdown once the new engine joins), per workload.
        gpu: the node's GPU product key, None when the node does not say.
        resident_before: each workload's slowdown now, before the new engine joins (1 for a
            workload alone), in the order of `resident_slowdowns`.
        resident_limits: each workload's own limit on its slowdown (None: it declares none).
    """

    node: str
    mode: str
    candidate_slowdown: float
    resident_slowdowns: tuple[tuple[str, float], ...]
    gpu: str | None = None
    resident_before: tuple[float, ...] = ()
    resident_limits: tuple[float | None, ...] = ()

    @property
    def worst(self) -> tuple[str, float]:
        """The most slowed engine on the node (`candidate` for the new one) and its slowdown."""
        entries = [("candidate", self.candidate_slowdown), *self.resident_slowdowns]
        return max(entries, key=lambda entry: entry[1])

    @property
    def predicted_loss(self) -> float:
        """What joining costs every engine on the node, in log slowdown: the new engine's own
        log slowdown plus, for each workload already there, how much its log slowdown grows.
        Slowdowns combine by ratio, so a workload going from 1.5x to 3x loses as much as one
        going from 1x to 2x. 0 on an empty node."""
        before = self.resident_before or (1.0,) * len(self.resident_slowdowns)
        grown = sum(
            max(0.0, math.log(after) - math.log(max(earlier, 1.0)))
            for (_, after), earlier in zip(self.resident_slowdowns, before, strict=True)
        )
        return math.log(max(self.candidate_slowdown, 1.0)) + grown

    def score(self) -> int:
        """0..MAX_SCORE: MAX_SCORE times exp(-predicted_loss), rounded. An empty node scores
        MAX_SCORE; joining a node alone at 2x (nobody else slowed) scores 5, and making both
        the new engine and a resident twice as slow scores 2 (2.5, rounded to even)."""
        return round(MAX_SCORE * math.exp(-self.predicted_loss))

    def _violations(
        self, limit: float | None, *, candidate: bool = True
    ) -> list[tuple[str, float, float]]:
        """(engine, slowdown, the limit it breaks): the new engine against `limit` (unless
        `candidate` is False), each resident against its own limit, or `limit` when it declares
        none."""
        found = []
        if candidate and limit is not None and self.candidate_slowdown > limit:
            found.append(("candidate", self.candidate_slowdown, limit))
        limits = self.resident_limits or (None,) * len(self.resident_slowdowns)
        for (name, slowdown), own in zip(self.resident_slowdowns, limits, strict=True):
            applied = own if own is not None else limit
            if applied is not None and slowdown > applied:
                found.append((name, slowdown, applied))
        return found

    def exceeds(self, limit: float | None, *, candidate: bool = True) -> bool:
        """Whether placing the new engine here breaks an objective: its own `limit`, or a
        resident's (its own limit, else `limit`). With `candidate` False only the residents
        count: a newcomer that yields to them (a throttled fine-tuning worker) may be slowed."""
        return bool(self._violations(limit, candidate=candidate))

    def reason(self, limit: float | None, *, candidate: bool = True) -> str:
        """Why the node is refused, naming the engine, the prediction and the limit broken."""
        violations = self._violations(limit, candidate=candidate)
        if not violations:
            return ""
        who, slowdown, broken = max(violations, key=lambda entry: entry[1] / entry[2])
        subject = "the new engine" if who == "candidate" else f"{who} (already there)"
        return (
            f"predicted slowdown of {subject} would be {slowdown:.2f}x under {self.mode}"
            f"{f' on {self.gpu}' if self.gpu else ''}, above maxPredictedSlowdown {broken:g}"
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
        others and the candidate, then (with two residents or more) each resident beside the
        others alone: its slowdown now, before the candidate joins."""
        series = [resident.series for resident in self.residents]
        mode = SharingMode.code(self.mode)
        threads = SharingMode.thread_fraction(self.mode)

        def row(candidate: PreparedSeries, neighbours: list[PreparedSeries]) -> ModelRow:
            return ModelRow(candidate, tuple(neighbours), self.idle, mode, gpu_code, threads)

        rows = [row(self.candidate, series)]
        for index, resident in enumerate(self.residents):
            others = series[:index] + series[index + 1 :]
            rows.append(row(resident.series, [*others, self.candidate]))
        if len(self.residents) >= 2:
            for index, resident in enumerate(self.residents):
                rows.append(row(resident.series, series[:index] + series[index + 1 :]))
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
        count = len(query.residents)
        after = slowdowns[1 : 1 + count]
        before = tuple(slowdowns[1 + count :]) if count >= 2 else (1.0,) * count
        return NodeAssessment(
            node=query.node,
            mode=query.mode,
            candidate_slowdown=slowdowns[0],
            resident_slowdowns=tuple(
                (resident.name, slowdown)
                for resident, slowdown in zip(query.residents, after, strict=True)
            ),
            gpu=query.gpu,
            resident_before=before,
            resident_limits=tuple(resident.limit for resident in query.residents),
        )
