"""Discovery from a real API server: a ModelService, the InferencePool the operator's builder
makes for it (accepted under the extension's v1 schema), and the pool's pods, followed as their
readiness changes and as the pool goes."""

from __future__ import annotations

import asyncio
import json
import pathlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import config as kube_config

from sloserve.api import spec
from sloserve.builders import inference_pool, labels
from sloserve.epp import kube_pools
from sloserve.gateway import datastore
from sloserve_dev import handle

REPO = pathlib.Path(__file__).resolve().parents[2]
POOL_CRD = pathlib.Path(__file__).resolve().parent / "crds"
MODEL = "pooled/model"
NAME = "pooled"
MODELSERVICE_SPEC: dict[str, Any] = {
    "model": MODEL,
    "engine": {"kind": "sim", "profile": "synthetic", "port": 8100},
    "replicas": 2,
    "sloClasses": [{"name": "batch", "ttft": "15s", "tpot": "50ms"}],
    "defaultClass": "batch",
}


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def established(cluster: handle.ClusterHandle, crd: str) -> bool:
    found = cluster.kubectl("get", f"crd/{crd}", "-o", "json", check=False)
    if found.returncode != 0:
        return False
    conditions = json.loads(found.stdout).get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


@pytest.fixture
def namespace(kube_cluster: handle.ClusterHandle) -> Iterator[str]:
    kube_cluster.kubectl("apply", "-f", str(REPO / "crds"), "-f", str(POOL_CRD))
    for crd in ("modelservices.sloserve.io", "inferencepools.inference.networking.k8s.io"):
        wait_for(lambda crd=crd: established(kube_cluster, crd), f"CRD {crd}")
    name = f"epp-{uuid.uuid4().hex[:8]}"
    kube_cluster.kubectl("create", "namespace", name)
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def apply(cluster: handle.ClusterHandle, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def engine_pod(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels.selector_labels(NAME)},
        "spec": {"containers": [{"name": "engine", "image": "registry.local/engine:test"}]},
    }


def set_ready(
    cluster: handle.ClusterHandle, namespace: str, pod: str, ip: str, ready: bool
) -> None:
    status = {
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    cluster.kubectl(
        "patch",
        "pod",
        pod,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


async def engines_become(
    store: datastore.Datastore, expected: tuple[str, ...], what: str, timeout_s: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        record = store.get(MODEL)
        if record is not None and record.engines == expected:
            return
        if time.monotonic() > deadline:
            seen = None if record is None else record.engines
            pytest.fail(f"timed out waiting for {what}: engines are {seen}, not {expected}")
        await asyncio.sleep(0.1)


async def test_the_pools_ready_pods_are_the_modelservices_engines(
    kube_cluster: handle.ClusterHandle, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client reads $KUBECONFIG when it is imported; point its default at the test cluster.
    monkeypatch.setattr(
        kube_config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kube_cluster.kubeconfig)
    )
    apply(
        kube_cluster,
        {
            "apiVersion": "sloserve.io/v1alpha1",
            "kind": "ModelService",
            "metadata": {"name": NAME, "namespace": namespace},
            "spec": MODELSERVICE_SPEC,
        },
    )
    pool = inference_pool.build_inference_pool(
        name=NAME,
        namespace=namespace,
        spec=spec.ModelServiceSpec.model_validate(MODELSERVICE_SPEC),
        options=inference_pool.PoolOptions(picker_service="sloserve-epp"),
    )
    apply(kube_cluster, pool)
    for pod in ("engine-a", "engine-b"):
        apply(kube_cluster, engine_pod(namespace, pod))
    set_ready(kube_cluster, namespace, "engine-a", "10.200.0.1", ready=True)
    set_ready(kube_cluster, namespace, "engine-b", "10.200.0.2", ready=False)

    store = datastore.Datastore()
    discovery = kube_pools.PoolDiscovery(
        store=store, loop=asyncio.get_running_loop(), namespace=namespace
    )
    discovery.start()
    try:
        await engines_become(store, ("http://10.200.0.1:8100",), "the ready pod")
        record = store.get(MODEL)
        assert record is not None
        assert record.labels.modelservice == NAME
        assert record.definition.classes.default_class == "batch"
        assert discovery.synced()

        set_ready(kube_cluster, namespace, "engine-b", "10.200.0.2", ready=True)
        await engines_become(
            store, ("http://10.200.0.1:8100", "http://10.200.0.2:8100"), "the second pod ready"
        )
        set_ready(kube_cluster, namespace, "engine-a", "10.200.0.1", ready=False)
        await engines_become(store, ("http://10.200.0.2:8100",), "the first pod unready")

        kube_cluster.kubectl("delete", "inferencepool", NAME, "-n", namespace)
        await engines_become(store, (), "the pool's deletion")
    finally:
        discovery.stop()
