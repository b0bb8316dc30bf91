"""Discovery from a real cluster: a ModelService and its engines, found through the EndpointSlices
of the engine Service the operator's builders make, followed live as they change."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from gateway_processes import free_port, wait_until

from sloserve.api import spec
from sloserve.builders import defaults, workloads
from sloserve.dev import handle

#: The gateway runs on this machine and must reach the engine pod it discovers.
pytestmark = pytest.mark.pods
MODEL = "discovered/model"
REPOSITORY = Path(__file__).resolve().parents[2]
MODELSERVICE_SPEC: dict[str, Any] = {
    "model": MODEL,
    # A port of its own: pods share this machine's network with whatever else runs on it.
    "engine": {
        "kind": "sim",
        "profile": "synthetic",
        "args": ["--time-scale=0"],
        "port": free_port(),
    },
    "replicas": 1,
    "sloClasses": [
        {"name": "interactive", "ttft": "500ms", "tpot": "50ms"},
        {"name": "batch", "ttft": "15s", "tpot": "50ms"},
    ],
    "defaultClass": "batch",
}


def apply(cluster: handle.ClusterHandle, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


@pytest.fixture
def namespace(kube_cluster: handle.ClusterHandle) -> Iterator[str]:
    name = f"gateway-{uuid.uuid4().hex[:8]}"
    kube_cluster.kubectl("apply", "-f", str(REPOSITORY / "crds" / "sloserve.io_modelservices.yaml"))
    kube_cluster.kubectl("create", "namespace", name)
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def gateway_url(
    kube_cluster: handle.ClusterHandle, namespace: str, tmp_path: Path
) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "sloserve"),
            "gateway",
            "--host=127.0.0.1",
            f"--port={port}",
            "--kubernetes",
            f"--namespace={namespace}",
            "--grace-period=1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), timeout_s=60, what="the gateway to list the cluster")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _engines(url: str) -> int | None:
    models = httpx.get(f"{url}/v1/models", timeout=5).json()["data"]
    found = [model for model in models if model["id"] == MODEL]
    return found[0]["engines"] if found else None


def test_engines_of_a_modelservice_are_found_served_and_followed(
    kube_cluster: handle.ClusterHandle, namespace: str, gateway_url: str
) -> None:
    name = "discovered"
    apply(
        kube_cluster,
        {
            "apiVersion": "sloserve.io/v1alpha1",
            "kind": "ModelService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": MODELSERVICE_SPEC,
        },
    )
    model_spec = spec.ModelServiceSpec.model_validate(MODELSERVICE_SPEC)
    engine_defaults = defaults.EngineDefaults(sim_image="registry.local/sloserve:dev")
    for manifest in (
        workloads.build_service(name=name, namespace=namespace, spec=model_spec),
        workloads.build_deployment(
            name=name, namespace=namespace, spec=model_spec, defaults=engine_defaults
        ),
    ):
        apply(kube_cluster, manifest)
    wait_until(lambda: _engines(gateway_url) == 1, timeout_s=180, what="the engine pod")

    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="none", max_retries=0)
    answers: list[Any] = []

    def served() -> bool:
        # A pod on a loaded machine may still fail a probe and restart once after it is ready.
        try:
            answers.append(
                client.completions.with_raw_response.create(model=MODEL, prompt="x", max_tokens=4)
            )
        except openai.APIStatusError:
            return False
        return True

    wait_until(served, timeout_s=60, what="a request served by the discovered engine")
    assert answers[-1].headers["x-slo-class"] == "batch"
    assert answers[-1].parse().usage.completion_tokens == 4

    kube_cluster.kubectl("-n", namespace, "scale", f"deployment/{name}", "--replicas=0")
    wait_until(lambda: _engines(gateway_url) == 0, timeout_s=120, what="the engine to go")
    with pytest.raises(openai.InternalServerError, match="no ready engines"):
        client.completions.create(model=MODEL, prompt="x", max_tokens=4)

    kube_cluster.kubectl("-n", namespace, "delete", "modelservice", name)
    wait_until(lambda: _engines(gateway_url) is None, timeout_s=60, what="the model to go")
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model=MODEL, prompt="x", max_tokens=4)
