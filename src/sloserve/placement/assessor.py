"""From Kubernetes objects to node assessments: the part of placement the extender and the
operator share."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sloserve.placement.pod_listing import PodLister
from sloserve.placement.scoring import NodeAssessment, NodeQuery, NodeScorer, Resident
from sloserve.placement.sources import SeriesSource
from sloserve.placement.workloads import GpuWorkload, gpu_product, sharing_mode

__all__ = ["Assessor"]

Body = dict[str, Any]


def _name(node: Body) -> str:
    return str((node.get("metadata") or {}).get("name", ""))


@dataclasses.dataclass(frozen=True)
class Assessor:
    """Predicts, for a pod, the slowdowns on each candidate node (see `NodeScorer.assess`)."""

    scorer: NodeScorer
    source: SeriesSource
    lister: PodLister

    async def assess(self, pod: Body, nodes: Sequence[Body]) -> list[NodeAssessment]:
        """One assessment per node, in the nodes' order. The pod itself, if the API already
        shows it on a node (a retried scheduling), is not its own neighbour."""
        candidate = GpuWorkload.from_pod(pod)
        names = [_name(node) for node in nodes]
        pods_by_node = await self.lister.gpu_pods_by_node(names)
        queries = []
        for node, name in zip(nodes, names, strict=True):
            others = [
                workload
                for workload in map(GpuWorkload.from_pod, pods_by_node.get(name, []))
                if not _same_pod(workload, candidate)
            ]
            queries.append(await self._query(candidate, others, node, name))
        return self.scorer.assess_many(queries)

    async def assess_running(self, pod: Body, node: Body) -> NodeAssessment:
        """The slowdown predicted for a pod already on `node`, beside the node's other GPU pods:
        its `candidate_slowdown`. For status and events after the pod was placed."""
        return (await self.assess(pod, [node]))[0]

    async def _query(
        self, candidate: GpuWorkload, others: list[GpuWorkload], node: Body, name: str
    ) -> NodeQuery:
        mode = sharing_mode(node)
        gpu = gpu_product(node)
        mine = await self.source.resolve(candidate, mode, running=False, gpu=gpu)
        residents = []
        for other in others:
            resolved = await self.source.resolve(other, mode, running=True, gpu=gpu)
            residents.append(Resident(name=other.key, series=resolved.prepared, limit=other.limit))
        return NodeQuery(
            node=name,
            mode=mode,
            candidate=mine.prepared,
            residents=tuple(residents),
            idle=self.source.idle(mode, gpu),
            gpu=gpu,
        )


def _same_pod(first: GpuWorkload, second: GpuWorkload) -> bool:
    if first.uid and second.uid:
        return first.uid == second.uid
    return first.key == second.key
