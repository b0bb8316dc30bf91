"""The operator's record of where an engine pod landed and what slowdown is predicted for it
there: a `status.placement` entry and the Event that announces it."""

from __future__ import annotations

import dataclasses
from typing import Any

from sloserve.api.status import PodPlacement
from sloserve.placement.assessor import Assessor
from sloserve.placement.scoring import NodeAssessment

__all__ = ["EVENT_REASON", "PlacementRecord", "record_placement"]

#: Reason of the Normal Event emitted on the ModelService when an engine pod is placed.
EVENT_REASON = "EnginePlaced"

Body = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class PlacementRecord:
    """A status entry, the Event message that goes with it, and the assessment behind them."""

    entry: PodPlacement
    message: str
    assessment: NodeAssessment


async def record_placement(assessor: Assessor, *, pod: Body, node: Body) -> PlacementRecord:
    """The placement of `pod`, bound to `node`: its predicted slowdown beside the node's other
    GPU pods as they are now. Call it once, when the pod is first seen on the node, and keep the
    entry (later neighbours change the truth, not what was predicted at placement)."""
    meta = pod.get("metadata") or {}
    node_name = str((node.get("metadata") or {}).get("name", ""))
    assessment = await assessor.assess_running(pod, node)
    slowdown = assessment.candidate_slowdown
    neighbours = ", ".join(name for name, _ in assessment.resident_slowdowns) or "no other GPU pod"
    message = (
        f"engine pod {meta.get('name')} placed on node {node_name}: predicted slowdown "
        f"{slowdown:.2f}x under {assessment.mode} beside {neighbours}"
    )
    entry = PodPlacement(pod=str(meta.get("name")), node=node_name, predicted_slowdown=slowdown)
    return PlacementRecord(entry=entry, message=message, assessment=assessment)
