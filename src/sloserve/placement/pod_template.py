"""What the operator adds to an engine pod template for interference-aware placement.

With the sloserve scheduler running, the template needs `schedulerName` (the operator's builders
set it) and the annotations below, which the extender reads. Without it, `preferred_affinity`
turns the same node scores into preferred node affinity for the default scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sloserve.api.spec import ModelServiceSpec
from sloserve.placement.scoring import MAX_SCORE, NodeAssessment
from sloserve.placement.workloads import (
    KIND_ANNOTATION,
    MAX_SLOWDOWN_ANNOTATION,
    workload_kind_for,
)

__all__ = ["engine_annotations", "preferred_affinity"]

#: Preferred node affinity weights run from 1 to this.
_MAX_AFFINITY_WEIGHT = 100


def engine_annotations(
    *, spec: ModelServiceSpec, annotations: Mapping[str, str], known_kinds: Sequence[str]
) -> dict[str, str]:
    """Annotations for the engine pod template of a ModelService with `spec` and metadata
    `annotations`: its workload kind always (so that it is known when other engines are placed
    beside it), and its slowdown limit when its placement is interference-aware. Raises
    ValueError naming the annotation when the ModelService declares an unknown kind."""
    result = {
        KIND_ANNOTATION: workload_kind_for(
            annotations=annotations, engine_args=spec.engine.args, known_kinds=known_kinds
        )
    }
    if spec.placement.interference_aware:
        result[MAX_SLOWDOWN_ANNOTATION] = f"{spec.placement.max_predicted_slowdown:g}"
    return result


def preferred_affinity(
    assessments: Sequence[NodeAssessment], *, limit: float
) -> dict[str, Any] | None:
    """`nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution` favouring each node in
    proportion to its score (weight 10 x score, at least 1); nodes over `limit` get no term, so
    any acceptable node wins over them. None when no node is acceptable (nothing to prefer).

    Preferences cannot forbid a node: without the sloserve scheduler, a pod may still land on a
    node over the limit when nothing else fits. Merge the result into the template's
    `affinity.nodeAffinity` beside its required terms.
    """
    terms = []
    for assessment in sorted(assessments, key=lambda a: a.node):
        if assessment.exceeds(limit):
            continue
        weight = max(
            1, min(_MAX_AFFINITY_WEIGHT, assessment.score() * _MAX_AFFINITY_WEIGHT // MAX_SCORE)
        )
        terms.append(
            {
                "weight": weight,
                "preference": {
                    "matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": [assessment.node]}
                    ]
                },
            }
        )
    if not terms:
        return None
    return {"preferredDuringSchedulingIgnoredDuringExecution": terms}
