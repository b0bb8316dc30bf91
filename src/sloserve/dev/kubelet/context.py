"""What every pod of one node shares: the node, its API client and its allocators."""

from __future__ import annotations

import dataclasses

from sloserve.dev import layout, pidfiles
from sloserve.dev.kubelet import addresses, api, container, events, gpus, images, nodes


@dataclasses.dataclass(frozen=True)
class NodeContext:
    """One node's shared parts; pod workers read it, never replace it."""

    spec: nodes.NodeSpec
    client: api.NodeApi
    paths: layout.ClusterLayout
    pids: pidfiles.PidRegistry
    addresses: addresses.BlockAllocator
    gpus: gpus.GpuAllocator
    events: events.EventRecorder
    mapping: images.ImageMapping
    backoff: container.Backoff
    # Where pods reach the API server (KUBERNETES_SERVICE_HOST/PORT).
    api_host: str
    api_port: int
    # Whether containers get their own mount namespace (see mounts.py); without it the
    # ServiceAccount token reaches them through KUBECONFIG instead.
    mount_namespaces: bool
    # The longest a pod may take to stop when the kubelet itself shuts down.
    shutdown_grace_s: float = 5.0
