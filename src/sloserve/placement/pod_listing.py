"""Which GPU pods run on which nodes, read from the Kubernetes API.

The extender protocol hands over the pod being placed and the candidate nodes, not the pods
already on them, so the extender lists them itself: one list call per scheduling request, so a
pod bound a moment ago is never missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any, Protocol

from sloserve.placement.workloads import requests_gpu

__all__ = ["KubernetesPodLister", "PodLister", "StaticPodLister"]

Body = dict[str, Any]

# Pods that finished hold no GPU; pods not yet bound are on no node.
_FIELD_SELECTOR = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"


class PodLister(Protocol):
    async def gpu_pods_by_node(self, nodes: Collection[str]) -> dict[str, list[Body]]:
        """node name -> the GPU-requesting pods bound to it and not finished, for every node in
        `nodes` (an empty list for a node without any)."""
        ...


def _group(pods: list[Body], nodes: Collection[str]) -> dict[str, list[Body]]:
    grouped: dict[str, list[Body]] = {node: [] for node in nodes}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        deleting = (pod.get("metadata") or {}).get("deletionTimestamp") is not None
        if node in grouped and requests_gpu(pod) and not deleting:
            grouped[node].append(pod)
    return grouped


class StaticPodLister:
    """A fixed set of pods: for tests and benchmarks."""

    def __init__(self, pods: list[Body]) -> None:
        self.pods = pods

    async def gpu_pods_by_node(self, nodes: Collection[str]) -> dict[str, list[Body]]:
        return _group(self.pods, nodes)


class KubernetesPodLister:
    """Lists pods through the `kubernetes` client (its calls run in a worker thread)."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self._api_client = api_client
        self._core = client.CoreV1Api(api_client)

    async def gpu_pods_by_node(self, nodes: Collection[str]) -> dict[str, list[Body]]:
        listed = await asyncio.to_thread(
            self._core.list_pod_for_all_namespaces, field_selector=_FIELD_SELECTOR
        )
        pods: list[Body] = self._api_client.sanitize_for_serialization(listed)["items"]
        return _group(pods, nodes)
