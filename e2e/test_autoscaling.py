"""Autoscaling on the cluster, as its users meet it: a load ramp through the gateway takes an
autoscaled ModelService from 1 engine to 3 or more and back to 1 once the load has stayed away
for its `scaleDownDelay`, with no stream cut while the extra engines go; and a ModelService at
`minReplicas: 0` serves its first request once an engine has started for it, while a request
whose class deadline is shorter than the start is refused at once with the reason.

The controller's tunables make it quick: the chart is upgraded for this module (and put back
afterwards) so that the operator collects the gateways' figures over a 20 s window every 5 s and
decides every 2 s, and the gateway holds a request for a model without engines (its expected
start `COLD_START_S`). The ramp's engines are simulated H100s serving long prompts (8,000 tokens
each) within a 750 ms TTFT, about one request a second per engine by the latency model, so a few
requests a second need several engines."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from e2e import chart_release, gateway_access, kube, providers, streams, tenants, traffic, waiting
from e2e.chart_release import ChartRelease

RAMP = "ramp"
RAMP_MODEL = "e2e/autoscaled-model"
COLD = "cold"
COLD_MODEL = "e2e/scaled-from-zero-model"
IMAGE = "ghcr.io/sloserve/sloserve:0.1.0"

WINDOW = "20s"
COLLECT_EVERY = "5s"
DECIDE_EVERY_S = 2
SCALE_DOWN_DELAY = "20s"
#: The gateway's expected engine start for a model without engines: above the interactive
#: class's TTFT (refused at once), well below the batch class's (held until an engine is ready).
COLD_START_S = 20
#: 8,000 prompt tokens at the gateway's 4 characters a token.
PROMPT_CHARS = 32_000
#: Several engines' worth at about one request a second per engine.
RAMP_RATE_RPS = 3.5
STREAM_TOKENS = 800
STREAMS = 3

SCALE_TIMEOUT_S = 150.0


def _classes(batch_ttft: str) -> list[dict[str, Any]]:
    return [
        {"name": "interactive", "ttft": "750ms", "tpot": "50ms"},
        {"name": "batch", "ttft": batch_ttft, "tpot": "200ms"},
    ]


def _modelservice(
    namespace: str, *, name: str, model: str, replicas: int, autoscaling: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "sloserve.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": model,
            "engine": {
                "kind": "sim",
                "image": IMAGE,
                "profile": "h100-llama3-8b",
                "args": ["--max-model-len=16384"],
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
            },
            "replicas": replicas,
            "drainSeconds": 60,
            "sloClasses": _classes("90s" if name == COLD else "30s"),
            "defaultClass": "batch",
            "autoscaling": autoscaling,
        },
    }


def _tuned(values: dict[str, Any]) -> dict[str, Any]:
    """The release's values with the autoscaler's quick tunables."""
    tuned = copy.deepcopy(values)
    operator = tuned.setdefault("operator", {})
    operator.setdefault("slo", {}).update({"window": WINDOW, "interval": COLLECT_EVERY})
    operator["extraEnv"] = [
        *operator.get("extraEnv", []),
        {"name": "SLOSERVE_OPERATOR__AUTOSCALING__INTERVAL_S", "value": str(DECIDE_EVERY_S)},
    ]
    gateway = tuned.setdefault("gateway", {})
    gateway["extraEnv"] = [
        *gateway.get("extraEnv", []),
        {"name": "SLOSERVE_GATEWAY__SCHEDULING__COLD_START_S", "value": str(COLD_START_S)},
    ]
    return tuned


def _get(provider: providers.Provider, namespace: str, name: str) -> dict[str, Any]:
    return kube.get(provider.cluster, "modelservice", name, "-n", namespace)


def _engine_pods(provider: providers.Provider, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = kube.get(
        provider.cluster, "pods", "-n", namespace, "-l", f"sloserve.io/modelservice={name}"
    )
    pods: list[dict[str, Any]] = listed["items"]
    return pods


def _ready_engines(provider: providers.Provider, namespace: str, name: str) -> int:
    return sum(
        1
        for pod in _engine_pods(provider, namespace, name)
        if not pod["metadata"].get("deletionTimestamp")
        and any(
            condition["type"] == "Ready" and condition["status"] == "True"
            for condition in (pod.get("status") or {}).get("conditions") or ()
        )
    )


def _settled_at(provider: providers.Provider, namespace: str, name: str, replicas: int) -> bool:
    """`replicas` asked for, that many engines ready, and no other engine pod (none draining)."""
    body = _get(provider, namespace, name)
    pods = _engine_pods(provider, namespace, name)
    return (
        body["spec"]["replicas"] == replicas
        and len(pods) == replicas
        and _ready_engines(provider, namespace, name) == replicas
    )


def _state(provider: providers.Provider, namespace: str, name: str) -> str:
    body = _get(provider, namespace, name)
    pods = [
        (pod["metadata"]["name"], bool(pod["metadata"].get("deletionTimestamp")))
        for pod in _engine_pods(provider, namespace, name)
    ]
    return yaml.safe_dump(
        {
            "spec.replicas": body["spec"]["replicas"],
            "status.autoscaling": (body.get("status") or {}).get("autoscaling"),
            "pods (name, terminating)": pods,
        }
    )


def _events(provider: providers.Provider, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = kube.get(
        provider.cluster,
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={name},involvedObject.kind=ModelService",
    )
    events: list[dict[str, Any]] = listed["items"]
    return events


def _routes(gateway: gateway_access.GatewayAccess, model: str) -> bool:
    urls = gateway.urls()
    return bool(urls) and all(
        model in {entry["id"] for entry in httpx.get(f"{url}/v1/models", timeout=10).json()["data"]}
        for url in urls
    )


@pytest.fixture(scope="module")
def autoscaled_namespace(
    provider: providers.Provider, release: ChartRelease, gateway: gateway_access.GatewayAccess
) -> Iterator[str]:
    """A namespace with the ramp's ModelService (1 to 4 engines) and the cold one (0 to 1),
    under a release tuned for quick decisions; the release's values are put back afterwards."""
    cluster = provider.cluster
    saved = chart_release.user_values(provider, release)
    chart_release.upgrade_to(provider, release, values=_tuned(saved))
    namespace = f"e2e-autoscaling-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    manifests = [
        _modelservice(
            namespace,
            name=RAMP,
            model=RAMP_MODEL,
            replicas=1,
            autoscaling={
                "minReplicas": 1,
                "maxReplicas": 4,
                "scaleDownDelay": SCALE_DOWN_DELAY,
                "maxSurge": 3,
                "targetAttainment": 0.9,
            },
        ),
        _modelservice(
            namespace,
            name=COLD,
            model=COLD_MODEL,
            replicas=0,
            autoscaling={"minReplicas": 0, "maxReplicas": 1, "scaleDownDelay": "10m"},
        ),
    ]
    try:
        for manifest in manifests:
            cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
        waiting.until(
            lambda: _settled_at(provider, namespace, RAMP, 1),
            what=f"see {RAMP} run its one engine",
            timeout_s=SCALE_TIMEOUT_S,
            interval_s=1.0,
            describe=lambda: _state(provider, namespace, RAMP),
        )
        waiting.until(
            lambda: _routes(gateway, RAMP_MODEL) and _routes(gateway, COLD_MODEL),
            what=f"see every gateway list {RAMP_MODEL} and {COLD_MODEL}",
            timeout_s=120,
            interval_s=1.0,
        )
        yield namespace
    finally:
        cluster.kubectl(
            "delete", "namespace", namespace, "--wait=true", "--timeout=180s", check=False
        )
        chart_release.upgrade_to(provider, release, values=saved)


def test_a_load_ramp_scales_up_to_three_or_more_and_back_down_cutting_no_stream(
    provider: providers.Provider,
    gateway: gateway_access.GatewayAccess,
    autoscaled_namespace: str,
) -> None:
    namespace = autoscaled_namespace
    ramp = traffic.PacedLoad(
        base_urls=gateway.urls,
        api_key=tenants.ALL_CLASSES_KEY,
        model=RAMP_MODEL,
        slo_class="interactive",
        rate_rps=RAMP_RATE_RPS,
        prompt_chars=PROMPT_CHARS,
        max_tokens=8,
    )
    with ramp:
        waiting.until(
            lambda: _ready_engines(provider, namespace, RAMP) >= 3,
            what=f"see the ramp of {RAMP_RATE_RPS} req/s bring {RAMP} to 3 or more ready engines",
            timeout_s=SCALE_TIMEOUT_S,
            interval_s=1.0,
            describe=lambda: _state(provider, namespace, RAMP),
        )
        scaled_up = _get(provider, namespace, RAMP)
        # Streams from before the ramp stops until the engines are back to one: the extra
        # engines are removed with streams in flight.
        with streams.StreamLoad(
            base_urls=gateway.urls,
            api_key=tenants.ALL_CLASSES_KEY,
            model=RAMP_MODEL,
            slo_class="batch",
            max_tokens=STREAM_TOKENS,
            concurrency=STREAMS,
        ) as load:
            ramp_outcomes = ramp.stop()
            waiting.until(
                lambda: _settled_at(provider, namespace, RAMP, 1),
                what=f"see {RAMP} back at 1 engine, none draining, once the ramp stopped for"
                f" the {SCALE_DOWN_DELAY} delay",
                timeout_s=SCALE_TIMEOUT_S,
                interval_s=1.0,
                describe=lambda: _state(provider, namespace, RAMP),
            )
            results = load.stop()

    decision = scaled_up["status"]["autoscaling"]
    assert scaled_up["spec"]["replicas"] >= 3, decision
    assert decision["predictedCapacityRps"] > 0, decision
    assert sum(1 for outcome in ramp_outcomes if outcome.error is None) > 0
    messages = [event["message"] for event in _events(provider, namespace, RAMP)]
    assert any(message.startswith("scaled up from 1 to") for message in messages), messages
    assert any(
        message.startswith("scaled down from") and " to 1 replicas" in message
        for message in messages
    ), messages
    incomplete = [result for result in results if not result.complete]
    assert len(results) >= STREAMS
    assert incomplete == [], f"{len(incomplete)} of {len(results)} streams cut: {incomplete[:5]}"


def _ask(
    gateway: gateway_access.GatewayAccess, slo_class: str, *, timeout_s: float
) -> httpx.Response:
    url = gateway.urls()[0]
    return httpx.post(
        f"{url}/v1/chat/completions",
        headers={
            "Authorization": f"Bearer {tenants.ALL_CLASSES_KEY}",
            traffic.CLASS_HEADER: slo_class,
        },
        json={
            "model": COLD_MODEL,
            "messages": [{"role": "user", "content": "Wake up."}],
            "max_tokens": 8,
        },
        timeout=timeout_s,
    )


def test_a_modelservice_at_zero_serves_its_first_request_after_scaling_up(
    provider: providers.Provider,
    gateway: gateway_access.GatewayAccess,
    autoscaled_namespace: str,
) -> None:
    namespace = autoscaled_namespace
    assert _engine_pods(provider, namespace, COLD) == []

    refused = _ask(gateway, "interactive", timeout_s=30)
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert error["code"] == "cold_start", error
    assert f"takes about {COLD_START_S:g} s" in error["message"], error
    assert "TTFT of 0.75 s" in error["message"], error
    assert refused.headers["retry-after"] == str(COLD_START_S)

    started = time.monotonic()
    served = _ask(gateway, "batch", timeout_s=120)
    waited_s = time.monotonic() - started
    assert served.status_code == 200, served.text
    assert served.json()["choices"][0]["message"]["content"]
    body = _get(provider, namespace, COLD)
    assert body["spec"]["replicas"] == 1, _state(provider, namespace, COLD)
    reasons = {event["reason"] for event in _events(provider, namespace, COLD)}
    assert "ActivatedFromZero" in reasons, reasons
    # Held while the engine started: longer than a warm request, within the class's TTFT.
    assert 1 < waited_s < 90, waited_s
