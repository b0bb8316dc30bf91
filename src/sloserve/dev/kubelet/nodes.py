"""The Node and Lease objects of a simulated GPU node, and keeping them fresh."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import platform
import uuid

from sloserve.dev.kubelet import api, logs_server, timestamps

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_COUNT_LABEL = "nvidia.com/gpu.count"
LOCAL_NODE_LABEL = "sloserve.io/local-node"
LEASE_DURATION_S = 40
# As a real kubelet: renew the lease every quarter of its duration, and repost the node's
# status (its heartbeat conditions) well within the controller's grace period.
LEASE_RENEW_INTERVAL_S = 10.0
STATUS_INTERVAL_S = 30.0

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One simulated node: its name, GPUs and other capacity, and the address it reports."""

    name: str
    address: str
    gpu_product: str
    gpus: int
    cpus: int = 32
    memory: str = "256Gi"
    max_pods: int = 110
    kubelet_version: str = "v1.34.4"

    def capacity(self) -> dict[str, str]:
        return {
            "cpu": str(self.cpus),
            "memory": self.memory,
            "pods": str(self.max_pods),
            "ephemeral-storage": "100Gi",
            GPU_RESOURCE: str(self.gpus),
        }

    def labels(self) -> dict[str, str]:
        return {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            GPU_PRODUCT_LABEL: self.gpu_product,
            GPU_COUNT_LABEL: str(self.gpus),
            LOCAL_NODE_LABEL: "true",
        }


def _conditions(moment: datetime.datetime, *, started: datetime.datetime) -> list[api.JsonObject]:
    heartbeat = timestamps.rfc3339(moment)
    since = timestamps.rfc3339(started)
    quiet = [
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    conditions: list[api.JsonObject] = [
        {
            "type": kind,
            "status": "False",
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": since,
        }
        for kind, reason, message in quiet
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "local kubelet is posting ready status",
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": since,
        }
    )
    return conditions


def node_status(
    spec: NodeSpec, *, moment: datetime.datetime, started: datetime.datetime
) -> api.JsonObject:
    return {
        "capacity": spec.capacity(),
        "allocatable": spec.capacity(),
        "conditions": _conditions(moment, started=started),
        "addresses": [
            {"type": "InternalIP", "address": spec.address},
            {"type": "Hostname", "address": spec.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": logs_server.KUBELET_PORT}},
        "nodeInfo": {
            "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, spec.name).hex,
            "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, spec.name)),
            # Stable while this kubelet runs: a new boot ID tells controllers the node rebooted.
            "bootID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{spec.name}@{started.isoformat()}")),
            "kernelVersion": platform.release(),
            "osImage": "sloserve local kubelet",
            "containerRuntimeVersion": "sloserve-local://0.1.0",
            "kubeletVersion": spec.kubelet_version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def node_object(spec: NodeSpec, *, pod_cidr: str, moment: datetime.datetime) -> api.JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": spec.labels()},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": node_status(spec, moment=moment, started=moment),
    }


def lease_object(spec: NodeSpec, *, moment: datetime.datetime) -> api.JsonObject:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": spec.name, "namespace": "kube-node-lease"},
        "spec": {
            "holderIdentity": spec.name,
            "leaseDurationSeconds": LEASE_DURATION_S,
            "renewTime": timestamps.micro(moment),
        },
    }


async def register(client: api.NodeApi, spec: NodeSpec, *, pod_cidr: str) -> datetime.datetime:
    """Creates the Node, or takes over an existing one of the same name by rewriting its
    labels and status. Returns the moment the node became ready."""
    started = timestamps.now()
    node = node_object(spec, pod_cidr=pod_cidr, moment=started)
    try:
        await client.create("/api/v1/nodes", node)
    except api.ApiError as error:
        if error.status != 409:
            raise
        await client.patch(f"/api/v1/nodes/{spec.name}", {"metadata": node["metadata"]})
        await client.patch(f"/api/v1/nodes/{spec.name}/status", {"status": node["status"]})
    return started


async def heartbeat(client: api.NodeApi, spec: NodeSpec, *, started: datetime.datetime) -> None:
    """Renews the node's Lease and reposts its status until cancelled; a failed round is
    logged and retried at the next tick."""
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{spec.name}"
    since_status = STATUS_INTERVAL_S
    while True:
        moment = timestamps.now()
        try:
            await _renew_lease(client, spec, lease_path=lease_path, moment=moment)
            if since_status >= STATUS_INTERVAL_S:
                status = node_status(spec, moment=moment, started=started)
                await client.patch(f"/api/v1/nodes/{spec.name}/status", {"status": status})
                since_status = 0.0
        except (api.ApiError, OSError) as error:
            _log.warning("node %s: heartbeat failed: %s", spec.name, error)
        await asyncio.sleep(LEASE_RENEW_INTERVAL_S)
        since_status += LEASE_RENEW_INTERVAL_S


async def _renew_lease(
    client: api.NodeApi, spec: NodeSpec, *, lease_path: str, moment: datetime.datetime
) -> None:
    lease = lease_object(spec, moment=moment)
    try:
        await client.patch(lease_path, {"spec": lease["spec"]})
    except api.ApiError as error:
        if error.status != 404:
            raise
        await client.create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)
