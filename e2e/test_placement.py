"""Interference-aware placement in a real cluster: two nodes with (simulated) GPUs and real
kubelets, the sloserve scheduler (a second kube-scheduler with the generated configuration, run
on this machine) asking the placement extender, and the operator turning a ModelService into
engine pods."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from e2e import providers
from sloserve.placement import scheduler_config
from sloserve.placement.workloads import KIND_ANNOTATION, MAX_SLOWDOWN_ANNOTATION
from sloserve_dev import handle

REPO = pathlib.Path(__file__).resolve().parents[1]
GPU_PRODUCT = "NVIDIA-H100-80GB-HBM3"
OPERATOR_ENV = {
    "SLOSERVE_OPERATOR__STATUS__REFRESH_INTERVAL_S": "1",
    "SLOSERVE_OPERATOR__ENGINES__DRAIN_DELAY_S": "0",
    "SLOSERVE_OPERATOR__ENGINES__SHUTDOWN_GRACE_S": "5",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _eventually(condition: Callable[[], bool], *, what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.5)


def _get(cluster: handle.ClusterHandle, kind: str, name: str, namespace: str) -> dict[str, Any]:
    found = cluster.kubectl(
        "get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found"
    ).stdout
    return json.loads(found) if found.strip() else {}


def _spawn(argv: list[str], log: pathlib.Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def kube_cluster(provider: providers.Provider) -> handle.ClusterHandle:
    return provider.cluster


@pytest.fixture(scope="module")
def placement_stack(
    kube_cluster: handle.ClusterHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The CRD, a namespace, the extender, the sloserve scheduler and the operator; yields the
    namespace."""
    work = tmp_path_factory.mktemp("placement")
    kube_cluster.kubectl("apply", "-f", str(REPO / "crds"))
    kube_cluster.wait_for_crd("modelservices.sloserve.io")
    namespace = f"placement-{uuid.uuid4().hex[:6]}"
    kube_cluster.kubectl("create", "namespace", namespace)
    env = {
        **os.environ,
        **OPERATOR_ENV,
        "SLOSERVE_OPERATOR__LEADER_ELECTION__LEASE_NAME": namespace,
    }
    port = _free_port()
    extender = _spawn(
        [
            sys.executable,
            "-m",
            "sloserve",
            "placement",
            "extender",
            "--port",
            str(port),
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
        ],
        work / "extender.log",
        env,
    )
    _eventually(lambda: _healthy(port), what="the extender's /healthz")
    config = scheduler_config.kube_scheduler_configuration(
        extender_url=f"http://127.0.0.1:{port}",
        kubeconfig=str(kube_cluster.kubeconfig),
        leader_elect=False,
    )
    config_path = work / "scheduler.yaml"
    config_path.write_text(scheduler_config.render(config))
    scheduler = _spawn(
        [
            str(kube_cluster.bin_dir / "kube-scheduler"),
            f"--config={config_path}",
            "--bind-address=127.0.0.1",
            f"--secure-port={_free_port()}",
            f"--cert-dir={work / 'scheduler-certs'}",
        ],
        work / "scheduler.log",
        env,
    )
    operator = _spawn(
        [
            sys.executable,
            "-m",
            "sloserve",
            "operator",
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
            "--namespace",
            namespace,
            "--lease-namespace",
            namespace,
        ],
        work / "operator.log",
        env,
    )
    yield namespace
    for process in (operator, scheduler, extender):
        _stop(process)
    kube_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _gpu_nodes(cluster: handle.ClusterHandle) -> list[str]:
    listed = cluster.kubectl(
        "get", "nodes", "-l", f"nvidia.com/gpu.product={GPU_PRODUCT}", "-o", "name"
    ).stdout
    return sorted(line.removeprefix("node/") for line in listed.split())


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _heavy_pod(name: str, node: str, kind: str) -> dict[str, Any]:
    """A GPU job bound to `node` (no scheduler involved), declaring its workload kind."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {KIND_ANNOTATION: kind}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": "sloserve:dev",
                    "command": ["python"],
                    "args": ["-c", "import time; time.sleep(3600)"],
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ],
        },
    }


def _modelservice(name: str, *, limit: float = 1.25) -> dict[str, Any]:
    return {
        "apiVersion": "sloserve.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name, "annotations": {KIND_ANNOTATION: "decode_b32_c1024"}},
        "spec": {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "engine": {"kind": "sim", "gpus": 1, "gpuProduct": GPU_PRODUCT},
            "replicas": 1,
            "sloClasses": [{"name": "standard", "ttft": "3s", "tpot": "50ms"}],
            "defaultClass": "standard",
            "placement": {"interferenceAware": True, "maxPredictedSlowdown": limit},
        },
    }


def _apply(cluster: handle.ClusterHandle, namespace: str, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def _engine_pods(cluster: handle.ClusterHandle, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = cluster.kubectl(
        "get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={name}", "-o", "json"
    ).stdout
    items: list[dict[str, Any]] = json.loads(listed)["items"]
    return items


def _wait_for_engine(cluster: handle.ClusterHandle, namespace: str, name: str) -> dict[str, Any]:
    def placed() -> bool:
        pods = _engine_pods(cluster, namespace, name)
        return bool(pods) and bool(pods[0]["spec"].get("nodeName"))

    _eventually(placed, what=f"the engine pod of {name} to be scheduled")
    (engine,) = _engine_pods(cluster, namespace, name)
    return engine


def test_new_engine_lands_on_the_node_without_a_heavy_engine(
    kube_cluster: handle.ClusterHandle, placement_stack: str
) -> None:
    namespace = placement_stack
    busy, free = _gpu_nodes(kube_cluster)[:2]
    _apply(kube_cluster, namespace, _heavy_pod("long-prefill-job", busy, "prefill_8192"))
    _apply(kube_cluster, namespace, _modelservice("llama"))
    engine = _wait_for_engine(kube_cluster, namespace, "llama")
    assert engine["spec"]["schedulerName"] == scheduler_config.SCHEDULER_NAME
    assert engine["spec"]["nodeName"] == free


def test_the_operator_records_the_prediction_in_status(
    kube_cluster: handle.ClusterHandle, placement_stack: str
) -> None:
    namespace = placement_stack
    # A loose limit: whatever earlier tests left on the nodes, some node can take it.
    _apply(kube_cluster, namespace, _modelservice("recorded", limit=10))
    engine = _wait_for_engine(kube_cluster, namespace, "recorded")
    assert engine["metadata"]["annotations"][MAX_SLOWDOWN_ANNOTATION] == "10"
    node = engine["spec"]["nodeName"]

    def recorded() -> bool:
        status = _get(kube_cluster, "modelservice", "recorded", namespace).get("status") or {}
        return any(
            entry.get("node") == node and entry.get("predictedSlowdown") is not None
            for entry in status.get("placement", [])
        )

    _eventually(recorded, what="status.placement with the engine's predicted slowdown")


def test_a_pod_that_no_node_can_take_stays_pending_with_the_extenders_reason(
    kube_cluster: handle.ClusterHandle, placement_stack: str
) -> None:
    namespace = placement_stack
    busy, free = _gpu_nodes(kube_cluster)[:2]
    _apply(kube_cluster, namespace, _heavy_pod("prefill-a", busy, "prefill_8192"))
    _apply(kube_cluster, namespace, _heavy_pod("prefill-b", free, "prefill_8192"))
    pod = _heavy_pod("picky-engine", busy, "decode_b32_c1024")
    del pod["spec"]["nodeName"]
    pod["spec"]["schedulerName"] = scheduler_config.SCHEDULER_NAME
    pod["metadata"]["annotations"][MAX_SLOWDOWN_ANNOTATION] = "1.25"
    _apply(kube_cluster, namespace, pod)

    def refused() -> bool:
        found = _get(kube_cluster, "pod", "picky-engine", namespace)
        conditions = (found.get("status") or {}).get("conditions") or []
        return any(
            c["type"] == "PodScheduled" and "predicted slowdown" in c.get("message", "")
            for c in conditions
        )

    _eventually(refused, what="PodScheduled=False naming the predicted slowdown")
    assert not _get(kube_cluster, "pod", "picky-engine", namespace)["spec"].get("nodeName")
