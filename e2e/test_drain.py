"""Scale-downs and rollouts cut no stream: while long streams run through the gateway, a
ModelService is scaled from 2 engines to 1 and back, then rolled to another image, and every
stream that started must end whole (a finish reason and its usage), five runs in a row.

What makes it so: the gateway stops routing to an engine the moment its EndpointSlice endpoint
turns `terminating`, and the engine's preStop hook holds SIGTERM back until the engine reports no
running or waiting request (within `drainSeconds`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from e2e import gateway_access, kube, providers, streams, tenants, waiting
from e2e.chart_release import ChartRelease

NAME = "drain"
MODEL = "e2e/drain-model"
IMAGES = ("ghcr.io/sloserve/sloserve:0.1.0", "ghcr.io/sloserve/sloserve:e2e-rolled")
# Simulated steps five times slower than an H100's: 300 tokens stream for about ten seconds, so
# every engine removed has streams in flight.
TIME_SCALE = 5
MAX_TOKENS = 300
CONCURRENCY = 8
READY_TIMEOUT_S = 300.0


def _modelservice(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "sloserve.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "model": MODEL,
            "engine": {
                "kind": "sim",
                "image": IMAGES[0],
                "args": [f"--time-scale={TIME_SCALE}", "--max-num-seqs=64"],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            },
            "replicas": 2,
            "drainSeconds": 90,
            "sloClasses": [
                {"name": "interactive", "ttft": "500ms", "tpot": "50ms"},
                {"name": "batch", "ttft": "30s", "tpot": "200ms"},
            ],
            "defaultClass": "batch",
        },
    }


def _get(provider: providers.Provider, namespace: str) -> dict[str, Any]:
    return kube.get(provider.cluster, "modelservice", NAME, "-n", namespace)


def _engine_pods(provider: providers.Provider, namespace: str) -> list[dict[str, Any]]:
    listed = kube.get(
        provider.cluster, "pods", "-n", namespace, "-l", f"sloserve.io/modelservice={NAME}"
    )
    pods: list[dict[str, Any]] = listed["items"]
    return pods


def _settled(provider: providers.Provider, namespace: str, *, replicas: int, image: str) -> bool:
    """Ready with `replicas` engines, all on `image`, and no other engine pod left (none
    terminating)."""
    body = _get(provider, namespace)
    status = body.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions", []) if c["type"] == "Ready"), {}
    )
    pods = _engine_pods(provider, namespace)
    return (
        ready.get("status") == "True"
        and status.get("readyReplicas") == replicas
        and status.get("observedGeneration") == body["metadata"]["generation"]
        and len(pods) == replicas
        and all(pod["spec"]["containers"][0]["image"] == image for pod in pods)
        and not any(pod["metadata"].get("deletionTimestamp") for pod in pods)
    )


def _wait_settled(
    provider: providers.Provider, namespace: str, *, replicas: int, image: str
) -> None:
    waiting.until(
        lambda: _settled(provider, namespace, replicas=replicas, image=image),
        what=f"see {replicas} ready engines on {image} and none other",
        timeout_s=READY_TIMEOUT_S,
        interval_s=1.0,
        describe=lambda: yaml.safe_dump(_get(provider, namespace).get("status")),
    )


def _gateway_routes_model(gateway: gateway_access.GatewayAccess) -> bool:
    urls = gateway.urls()
    return bool(urls) and all(
        MODEL in {entry["id"] for entry in httpx.get(f"{url}/v1/models", timeout=10).json()["data"]}
        for url in urls
    )


@pytest.fixture(scope="module")
def drained_namespace(provider: providers.Provider, release: ChartRelease) -> Iterator[str]:
    namespace = f"e2e-drain-{uuid.uuid4().hex[:6]}"
    provider.cluster.kubectl("create", "namespace", namespace)
    provider.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(_modelservice(namespace)))
    try:
        _wait_settled(provider, namespace, replicas=2, image=IMAGES[0])
        yield namespace
    finally:
        # Waited for: a ModelService still terminating would be one the next module's gateway
        # counts as not servable.
        provider.cluster.kubectl(
            "delete", "namespace", namespace, "--wait=true", "--timeout=180s", check=False
        )


@pytest.mark.parametrize("run", range(5))
def test_scale_down_and_rollout_cut_no_stream(
    provider: providers.Provider,
    gateway: gateway_access.GatewayAccess,
    drained_namespace: str,
    run: int,
) -> None:
    cluster = provider.cluster
    namespace = drained_namespace
    current, other = IMAGES[run % 2], IMAGES[(run + 1) % 2]
    waiting.until(
        lambda: _gateway_routes_model(gateway),
        what=f"see the gateways route {MODEL}",
        timeout_s=120,
    )
    pod = _engine_pods(provider, namespace)[0]["spec"]["containers"][0]
    assert pod["lifecycle"]["preStop"]["exec"]["command"][-2:] == ["90", "5"]

    with streams.StreamLoad(
        base_urls=gateway.urls,
        api_key=tenants.ALL_CLASSES_KEY,
        model=MODEL,
        slo_class="batch",
        max_tokens=MAX_TOKENS,
        concurrency=CONCURRENCY,
    ) as load:
        waiting.until(
            lambda: len(load.results) >= CONCURRENCY, what="see streams complete", timeout_s=120
        )
        cluster.kubectl("scale", "-n", namespace, f"msvc/{NAME}", "--replicas=1")
        _wait_settled(provider, namespace, replicas=1, image=current)
        cluster.kubectl("scale", "-n", namespace, f"msvc/{NAME}", "--replicas=2")
        _wait_settled(provider, namespace, replicas=2, image=current)
        patch = {"spec": {"engine": {"image": other}}}
        cluster.kubectl(
            "patch", "-n", namespace, f"msvc/{NAME}", "--type=merge", "-p", yaml.safe_dump(patch)
        )
        _wait_settled(provider, namespace, replicas=2, image=other)
        results = load.stop()

    incomplete = [result for result in results if not result.complete]
    assert len(results) > 2 * CONCURRENCY
    assert incomplete == [], f"{len(incomplete)} of {len(results)} streams cut: {incomplete[:5]}"
