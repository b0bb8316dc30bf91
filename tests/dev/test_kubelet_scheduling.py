"""Pods land on the local GPU nodes through the real scheduler, by their GPU requests."""

from __future__ import annotations

import pytest

from dev.helpers import SLOSERVE_IMAGE, apply, eventually
from sloserve.dev import handle
from sloserve.dev.kubelet import config, nodes

pytestmark = pytest.mark.usefixtures("local_only")


def test_nodes_offer_gpus_with_their_product_label(kube_cluster: handle.ClusterHandle) -> None:
    listing = kube_cluster.kubectl(
        "get",
        "nodes",
        "-l",
        f"{nodes.GPU_PRODUCT_LABEL}={config.DEFAULT_GPU_PRODUCT}",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.allocatable.nvidia\\.com/gpu}\n{end}",
    ).stdout

    assert sorted(listing.split()) == sorted(f"{name}=8" for name in kube_cluster.nodes)


def test_deployment_pods_are_placed_by_gpu_requests_and_extra_ones_stay_pending(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    # Two nodes of 8 GPUs hold four pods of 4 GPUs; the fifth cannot be placed.
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "engines", "namespace": namespace},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "engines"}},
            "template": {
                "metadata": {"labels": {"app": "engines"}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "nodeSelector": {nodes.GPU_PRODUCT_LABEL: config.DEFAULT_GPU_PRODUCT},
                    "containers": [
                        {
                            "name": "engine",
                            "image": SLOSERVE_IMAGE,
                            "command": ["python", "-c", "import time; time.sleep(600)"],
                            "resources": {"limits": {nodes.GPU_RESOURCE: "4"}},
                        }
                    ],
                },
            },
        },
    }
    apply(kube_cluster, deployment)

    def placement() -> dict[str, list[str]]:
        listing = kube_cluster.kubectl(
            "get",
            "pods",
            "-n",
            namespace,
            "-l",
            "app=engines",
            "-o",
            "jsonpath={range .items[*]}{.spec.nodeName},{.status.phase}\n{end}",
        ).stdout
        by_phase: dict[str, list[str]] = {}
        for line in listing.split():
            node, phase = line.split(",")
            by_phase.setdefault(phase, []).append(node)
        return by_phase

    def four_running_one_pending() -> bool:
        current = placement()
        return len(current.get("Running", [])) == 4 and len(current.get("Pending", [])) == 1

    eventually(four_running_one_pending, what="four engine pods running and one pending")
    running = placement()["Running"]
    assert sorted(set(running)) == sorted(kube_cluster.nodes)
    assert all(running.count(node) == 2 for node in kube_cluster.nodes)
    assert placement()["Pending"] == [""]
    reasons = kube_cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector=reason=FailedScheduling",
        "-o",
        "jsonpath={.items[*].message}",
    ).stdout
    assert f"Insufficient {nodes.GPU_RESOURCE}" in reasons
