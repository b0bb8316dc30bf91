"""A ModelService set up as a production vLLM deployment would be becomes a running engine pod
with all of it: on the node its nodeSelector and toleration pick (a node tainted for it), with
the model cache claim mounted read-write at `HF_HOME`, and `HF_TOKEN` taken from a Secret. The
token's value is checked inside the container, and appears neither in the ModelService, nor in
the Deployment, nor in the operator's logs."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from e2e import kube, providers, waiting
from e2e.chart_release import ChartRelease

NAME = "production-pod"
POOL_LABEL = "sloserve-e2e/pool"
TAINT_KEY = "sloserve-e2e/dedicated"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
READY_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def gpu_node(provider: providers.Provider, release: ChartRelease) -> Iterator[dict[str, str]]:
    """A GPU node labelled and tainted for this test alone (both removed afterwards)."""
    nodes = kube.get(provider.cluster, "nodes", "-l", GPU_PRODUCT_LABEL)["items"]
    assert nodes, f"the cluster has no node labelled {GPU_PRODUCT_LABEL}"
    node = nodes[-1]
    name = node["metadata"]["name"]
    pool = f"pool-{uuid.uuid4().hex[:6]}"
    provider.cluster.kubectl("label", "node", name, f"{POOL_LABEL}={pool}", "--overwrite")
    provider.cluster.kubectl("taint", "node", name, f"{TAINT_KEY}={pool}:NoSchedule", "--overwrite")
    try:
        yield {
            "name": name,
            "pool": pool,
            "product": node["metadata"]["labels"][GPU_PRODUCT_LABEL],
        }
    finally:
        provider.cluster.kubectl("taint", "node", name, f"{TAINT_KEY}-", check=False)
        provider.cluster.kubectl("label", "node", name, f"{POOL_LABEL}-", check=False)


@pytest.fixture(scope="module")
def namespace(provider: providers.Provider, release: ChartRelease) -> Iterator[str]:
    name = f"e2e-pod-{uuid.uuid4().hex[:6]}"
    provider.cluster.kubectl("create", "namespace", name)
    yield name
    # Waited for: a ModelService still terminating would be one the next module's gateway
    # counts as not servable.
    provider.cluster.kubectl(
        "delete", "namespace", name, "--wait=true", "--timeout=180s", check=False
    )


def _modelservice(namespace: str, node: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "sloserve.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "model": "e2e/production-pod-model",
            "engine": {
                "kind": "sim",
                "image": "ghcr.io/sloserve/sloserve:0.1.0",
                "gpus": 1,
                "gpuProduct": node["product"],
                "huggingFaceTokenSecret": {"name": "hf-token"},
                "modelCache": {"persistentVolumeClaim": {"claimName": "model-cache"}},
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "pod": {
                    "nodeSelector": {POOL_LABEL: node["pool"]},
                    "tolerations": [
                        {
                            "key": TAINT_KEY,
                            "operator": "Equal",
                            "value": node["pool"],
                            "effect": "NoSchedule",
                        }
                    ],
                },
            },
            "replicas": 1,
            "sloClasses": [{"name": "standard", "ttft": "3s", "tpot": "50ms"}],
            "defaultClass": "standard",
        },
    }


def _claim(namespace: str) -> dict[str, Any]:
    # No class: the claim binds to the volume made for it (the local nodes have no provisioner).
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "model-cache", "namespace": namespace},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "volumeName": _volume_name(namespace),
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }


def _volume_name(namespace: str) -> str:
    return f"{namespace}-model-cache"


@pytest.fixture(scope="module")
def cache_volume(provider: providers.Provider, namespace: str) -> Iterator[str]:
    """A hostPath PersistentVolume bound in advance to the namespace's `model-cache` claim, as
    a cluster administrator would make one for a node-local weights cache."""
    name = _volume_name(namespace)
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"namespace": namespace, "name": "model-cache"},
            "hostPath": {"path": f"/var/lib/sloserve-e2e/{name}", "type": "DirectoryOrCreate"},
        },
    }
    provider.cluster.kubectl("apply", "-f", "-", input=json.dumps(volume))
    yield name
    provider.cluster.kubectl("delete", "pv", name, "--wait=false", check=False)


def _ready_pod(provider: providers.Provider, namespace: str) -> dict[str, Any] | None:
    pods = kube.get(
        provider.cluster, "pods", "-n", namespace, "-l", f"sloserve.io/modelservice={NAME}"
    )["items"]
    for pod in pods:
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        if conditions.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp"):
            found: dict[str, Any] = pod
            return found
    return None


def _exec_python(
    provider: providers.Provider, namespace: str, pod: str, code: str, *args: str
) -> str:
    result = provider.cluster.kubectl(
        "exec", "-n", namespace, pod, "-c", "engine", "--", "python3", "-c", code, *args
    )
    return str(result.stdout)


def test_a_production_engine_pod_runs_where_it_should_with_cache_and_token(
    provider: providers.Provider,
    release: ChartRelease,
    namespace: str,
    gpu_node: dict[str, str],
    cache_volume: str,
) -> None:
    cluster = provider.cluster
    token = f"hf_e2e_{secrets.token_hex(12)}"
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        "hf-token",
        "-n",
        namespace,
        f"--from-literal=HF_TOKEN={token}",
    )
    cluster.kubectl("apply", "-f", "-", input=json.dumps(_claim(namespace)))
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(_modelservice(namespace, gpu_node)))

    pod = waiting.until(
        lambda: _ready_pod(provider, namespace),
        what="see the engine pod ready",
        timeout_s=READY_TIMEOUT_S,
        interval_s=1.0,
        describe=lambda: yaml.safe_dump(
            kube.get(cluster, "modelservice", NAME, "-n", namespace).get("status")
        ),
    )
    assert pod["spec"]["nodeName"] == gpu_node["name"]
    spec = pod["spec"]
    (engine,) = spec["containers"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["model-cache"]["persistentVolumeClaim"] == {"claimName": "model-cache"}
    assert {"name": "model-cache", "mountPath": "/models"} in [
        {key: mount[key] for key in ("name", "mountPath")} for mount in engine["volumeMounts"]
    ]
    env = {entry["name"]: entry for entry in engine["env"]}
    assert env["HF_TOKEN"] == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}},
    }
    assert env["HF_HOME"]["value"] == "/models"
    assert engine["securityContext"]["capabilities"] == {"drop": ["ALL"]}

    name = pod["metadata"]["name"]
    same = _exec_python(
        provider,
        namespace,
        name,
        "import os, sys; print(os.environ.get('HF_TOKEN') == sys.argv[1])",
        token,
    )
    assert same.strip() == "True"
    # The claim's volume is what HF_HOME names inside the container (the engine, running as a
    # user without rights on a fresh hostPath directory, is not asked to write there).
    mounted = _exec_python(
        provider, namespace, name, "import os; print(os.path.ismount(os.environ['HF_HOME']))"
    )
    assert mounted.strip() == "True"
    assert "readOnly" not in next(m for m in engine["volumeMounts"] if m["name"] == "model-cache")
    claim = kube.get(cluster, "pvc", "model-cache", "-n", namespace)
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["volumeName"] == cache_volume

    modelservice = cluster.kubectl("get", "modelservice", NAME, "-n", namespace, "-o", "yaml")
    deployment = cluster.kubectl("get", "deployment", NAME, "-n", namespace, "-o", "yaml")
    logs = cluster.kubectl(
        "logs", "-n", release.namespace, f"deployment/{release.operator}", "--all-containers"
    )
    for text in (modelservice.stdout, deployment.stdout, logs.stdout, logs.stderr):
        assert token not in text
