"""Where a co-served FineTuneJob's worker may run: the nodes of its ModelService's engines on
which the interference predictor says every resident keeps its slowdown limit.

The operator asks the same `placement.assessor.Assessor` the scheduler extender asks (one
prediction per candidate node, the residents as the API lists them) and judges each node with
`NodeAssessment.exceeds`, the extender's filter, with one difference: only the residents count.
The worker yields to inference (its share is throttled), so its own slowdown breaks nothing;
an engine slowed past its limit does. Residents without a limit of their own are held to the
ModelService's `spec.placement.maxPredictedSlowdown`.

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sloserve.api.finetune_spec import FineTuneJobSpec
from sloserve.placement.scoring import NodeAssessment

__all__ = ["PEFT_KINDS", "WorkerPlacement", "choose_nodes", "worker_kind"]

#: Measured LoRA fine-tuning kinds of the solo catalogue, with the rank and tokens per step they
#: were measured at (Llama-3.2-1B shape, data/colocation).
PEFT_KINDS: tuple[tuple[str, int, int], ...] = (
    ("peft_1b_b4_s512_r16", 16, 4 * 512),
    ("peft_1b_b1_s2048_r64", 64, 1 * 2048),
)


def worker_kind(spec: FineTuneJobSpec, known_kinds: Sequence[str]) -> str | None:
    """The catalogue kind that stands in for the job's worker: the measured PEFT kind nearest
    to its rank (then tokens per step); None when the catalogue has none of them."""
    tokens = spec.training.micro_batch_size * spec.training.sequence_length
    candidates = [entry for entry in PEFT_KINDS if entry[0] in known_kinds]
    if not candidates:
        return None
    best = min(
        candidates,
        key=lambda entry: (abs(entry[1] - spec.adapter.rank), abs(entry[2] - tokens)),
    )
    return best[0]


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerPlacement:
    """The nodes the worker may run on (sorted) and, per refused node, why."""

    nodes: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]

    def message(self) -> str:
        """One line for the job's `Placed` condition."""
        if not self.nodes:
            reasons = "; ".join(f"{node}: {why}" for node, why in self.refused)
            return (
                f"no node of the ModelService's engines keeps every resident's headroom ({reasons})"
            )
        refused = f"; refused {', '.join(node for node, _ in self.refused)}" if self.refused else ""
        return (
            f"predicted to keep every resident's slowdown limit on {', '.join(self.nodes)}{refused}"
        )


def choose_nodes(assessments: Sequence[NodeAssessment], *, limit: float) -> WorkerPlacement:
    """The nodes among `assessments` where adding the worker keeps every resident within its
    own limit (or `limit`, for residents that declare none)."""
    passing = []
    refused = []
    for assessment in sorted(assessments, key=lambda a: a.node):
        if assessment.exceeds(limit, candidate=False):
            refused.append((assessment.node, assessment.reason(limit, candidate=False)))
        else:
            passing.append(assessment.node)
    return WorkerPlacement(nodes=tuple(passing), refused=tuple(refused))
