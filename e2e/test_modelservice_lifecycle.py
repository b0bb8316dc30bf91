"""A ModelService through its life, as its owner and its clients see it: applied from the sample,
Ready, served in two classes through the gateway, scaled, rolled to another image, kept serving
while the operator and a gateway pod are killed, its SLO figures read with `sloserve report` and
from its status, and deleted with everything it made.

The tests run in this order and share one ModelService."""

from __future__ import annotations

import re
from typing import Any

import httpx
import openai
import pytest
import yaml
from openai.types.chat import ChatCompletionMessageParam

from e2e import (
    chart_release,
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

SAMPLE = REPOSITORY / "config" / "samples" / "modelservice-sim.yaml"
_SAMPLE_BODY = yaml.safe_load(SAMPLE.read_text())
NAME: str = _SAMPLE_BODY["metadata"]["name"]
MODEL: str = _SAMPLE_BODY["spec"]["model"]
ROLLED_IMAGE = "ghcr.io/sloserve/sloserve:e2e-rolled"
CLASSES = ("interactive", "batch")
READY_TIMEOUT_S = 240.0
CHILD_KINDS = ("deployment", "service", "poddisruptionbudget")
REPORT_WINDOW_S = 30
REPORTED_REQUESTS = 5


def _modelservice(provider: providers.Provider, namespace: str) -> dict[str, Any]:
    return kube.get(provider.cluster, "modelservice", NAME, "-n", namespace)


def _condition(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), None)


def _ready_with(provider: providers.Provider, namespace: str, replicas: int) -> bool:
    body = _modelservice(provider, namespace)
    status = body.get("status") or {}
    ready = _condition(body, "Ready")
    return (
        ready is not None
        and ready["status"] == "True"
        and status.get("readyReplicas") == replicas
        and status.get("observedGeneration") == body["metadata"]["generation"]
    )


def _wait_ready(provider: providers.Provider, namespace: str, replicas: int) -> None:
    waiting.until(
        lambda: _ready_with(provider, namespace, replicas),
        what=f"see ModelService {NAME} Ready with {replicas} ready replicas",
        timeout_s=READY_TIMEOUT_S,
        interval_s=1.0,
        describe=lambda: yaml.safe_dump(_modelservice(provider, namespace).get("status")),
    )


def _engine_pods(provider: providers.Provider, namespace: str) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = kube.get(
        provider.cluster, "pods", "-n", namespace, "-l", f"sloserve.io/modelservice={NAME}"
    )["items"]
    return pods


def _serve_both_classes(
    gateway: gateway_access.GatewayAccess, *, requests: int = 6, retries: int = 0
) -> dict[str, traffic.ClassSummary]:
    results = traffic.drive(
        base_urls=gateway.urls,
        api_key=tenants.ALL_CLASSES_KEY,
        model=MODEL,
        requests_per_class=dict.fromkeys(CLASSES, requests),
        retries=retries,
    )
    for slo_class, summary in results.items():
        assert summary.errors == [], f"{slo_class}: {summary.errors}"
        assert summary.succeeded == requests
    return results


def _gateway_serves_model(gateway: gateway_access.GatewayAccess) -> bool:
    urls = gateway.urls()
    if not urls:
        return False
    for url in urls:
        models = httpx.get(f"{url}/v1/models", timeout=10).json()
        if MODEL not in {entry["id"] for entry in models.get("data", [])}:
            return False
    return True


def test_the_sample_becomes_ready_with_owned_children(
    provider: providers.Provider, release: ChartRelease, models_namespace: str
) -> None:
    provider.cluster.kubectl("apply", "-n", models_namespace, "-f", str(SAMPLE))
    _wait_ready(provider, models_namespace, replicas=2)
    uid = _modelservice(provider, models_namespace)["metadata"]["uid"]
    for kind in CHILD_KINDS:
        child = kube.get(provider.cluster, kind, NAME, "-n", models_namespace)
        owners = child["metadata"]["ownerReferences"]
        assert [(owner["uid"], owner.get("controller")) for owner in owners] == [(uid, True)]
    assert len(_engine_pods(provider, models_namespace)) == 2


def test_the_status_says_why_it_is_ready(
    provider: providers.Provider, models_namespace: str
) -> None:
    body = _modelservice(provider, models_namespace)
    assert body["status"]["replicas"] == 2
    ready = _condition(body, "Ready")
    degraded = _condition(body, "Degraded")
    assert ready is not None
    assert ready["reason"]
    assert ready["message"]
    assert degraded is not None
    assert degraded["status"] == "False"


def test_two_classes_are_served_and_counted_per_class(
    gateway: gateway_access.GatewayAccess, models_namespace: str
) -> None:
    waiting.until(
        lambda: _gateway_serves_model(gateway),
        what=f"see every gateway pod list {MODEL}",
        timeout_s=60,
        describe=gateway.describe,
    )
    results = _serve_both_classes(gateway, requests=12)
    for slo_class, summary in results.items():
        assert {outcome.served_class for outcome in summary.outcomes} == {slo_class}
        assert all(outcome.chunks > 0 for outcome in summary.outcomes)
    samples = gateway_metrics.scrape(gateway.urls())
    for slo_class in CLASSES:
        labels = {"namespace": models_namespace, "modelservice": NAME, "slo_class": slo_class}
        assert gateway_metrics.total(samples, "sloserve_requests_total", labels) >= 12
        assert gateway_metrics.total(samples, "sloserve_requests_attained_total", labels) >= 1
        assert gateway_metrics.total(samples, "sloserve_ttft_seconds_count", labels) >= 12
    targets = {"namespace": models_namespace, "slo_class": "interactive", "objective": "ttft"}
    assert gateway_metrics.total(samples, "sloserve_slo_target_seconds", targets) > 0


def test_a_tenant_gets_its_default_class_and_is_refused_others(
    gateway: gateway_access.GatewayAccess,
) -> None:
    client = openai.OpenAI(
        base_url=f"{gateway.urls()[0]}/v1", api_key=tenants.BATCH_ONLY_KEY, max_retries=0
    )
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello"}]
    answered = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, max_tokens=8
    )
    assert answered.headers["x-slo-class"] == "batch"
    assert answered.parse().choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(
            model=MODEL,
            messages=messages,
            max_tokens=8,
            extra_headers={traffic.CLASS_HEADER: "interactive"},
        )
    assert "interactive" in str(refused.value)
    keyless = openai.OpenAI(base_url=client.base_url, api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        keyless.chat.completions.create(model=MODEL, messages=messages, max_tokens=8)


def test_kubectl_scale_adds_an_engine_the_gateway_uses(
    provider: providers.Provider, gateway: gateway_access.GatewayAccess, models_namespace: str
) -> None:
    provider.cluster.kubectl("scale", "-n", models_namespace, f"msvc/{NAME}", "--replicas=3")
    _wait_ready(provider, models_namespace, replicas=3)
    deployment = kube.get(provider.cluster, "deployment", NAME, "-n", models_namespace)
    assert deployment["spec"]["replicas"] == 3
    _serve_both_classes(gateway)


def test_a_new_image_rolls_every_engine(
    provider: providers.Provider, gateway: gateway_access.GatewayAccess, models_namespace: str
) -> None:
    patch = {"spec": {"engine": {"image": ROLLED_IMAGE}}}
    provider.cluster.kubectl(
        "patch", "-n", models_namespace, f"msvc/{NAME}", "--type=merge", "-p", yaml.safe_dump(patch)
    )

    def rolled() -> bool:
        pods = _engine_pods(provider, models_namespace)
        running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return len(running) == 3 and all(
            p["spec"]["containers"][0]["image"] == ROLLED_IMAGE for p in running
        )

    waiting.until(rolled, what=f"see every engine pod run {ROLLED_IMAGE}", timeout_s=240)
    _wait_ready(provider, models_namespace, replicas=3)
    _serve_both_classes(gateway)


def test_serving_continues_while_the_operator_is_killed(
    provider: providers.Provider,
    release: ChartRelease,
    gateway: gateway_access.GatewayAccess,
    models_namespace: str,
) -> None:
    selector = "app.kubernetes.io/component=operator"
    (old,) = kube.get(provider.cluster, "pods", "-n", release.namespace, "-l", selector)["items"]
    provider.cluster.kubectl(
        "delete",
        "pod",
        old["metadata"]["name"],
        "-n",
        release.namespace,
        "--grace-period=0",
        "--force",
        "--wait=false",
    )
    _serve_both_classes(gateway)

    def new_operator_running() -> bool:
        pods = kube.get(provider.cluster, "pods", "-n", release.namespace, "-l", selector)
        return any(
            p["metadata"]["uid"] != old["metadata"]["uid"] and p["status"].get("phase") == "Running"
            for p in pods["items"]
        )

    waiting.until(new_operator_running, what="see a new operator pod running", timeout_s=120)
    # The new operator acts once it holds the Lease: it reconciles a change made now.
    provider.cluster.kubectl("scale", "-n", models_namespace, f"msvc/{NAME}", "--replicas=2")
    _wait_ready(provider, models_namespace, replicas=2)


def test_serving_continues_while_a_gateway_pod_is_killed(
    provider: providers.Provider,
    release: ChartRelease,
    gateway: gateway_access.GatewayAccess,
) -> None:
    victim = gateway.endpoints()[0].pod
    provider.cluster.kubectl("delete", "pod", victim, "-n", release.namespace, "--wait=false")
    _serve_both_classes(gateway, requests=10, retries=2)
    waiting.until(
        lambda: (
            len(gateway.endpoints()) == 2 and victim not in {e.pod for e in gateway.endpoints()}
        ),
        what="see the gateway back to two ready pods",
        timeout_s=120,
    )
    _serve_both_classes(gateway)


def test_sloserve_report_counts_the_requests_of_each_class_in_its_window(
    gateway: gateway_access.GatewayAccess, models_namespace: str
) -> None:
    report, _ = report_cli.report_while(
        gateway_urls=gateway.urls(),
        window_s=REPORT_WINDOW_S,
        during=lambda: _serve_both_classes(gateway, requests=REPORTED_REQUESTS),
        connections=gateway.connections,
    )
    assert report["source"]["kind"] == "gateways"
    counts = report_cli.class_counts(report, namespace=models_namespace, modelservice=NAME)
    for slo_class in CLASSES:
        figures = counts[slo_class]
        # Fewer requests than were sent: some fell after the window's end.
        assert (figures["requests"], figures["admitted"], figures["rejected_total"]) == (
            REPORTED_REQUESTS,
            REPORTED_REQUESTS,
            0,
        ), f"{slo_class}: {figures}"
        # A few requests at once on idle simulated engines: every one meets its class's targets.
        assert figures["attained"] == REPORTED_REQUESTS, f"{slo_class}: {figures}"
        assert figures["attainment"] == 1.0
    assert counts["standard"]["requests"] == 0
    assert counts["standard"]["attainment"] is None


def _slo_classes_served(provider: providers.Provider, namespace: str) -> dict[str, Any] | None:
    slo = (_modelservice(provider, namespace).get("status") or {}).get("slo") or {}
    classes = {entry["name"]: entry for entry in slo.get("classes") or []}
    if all(classes.get(name, {}).get("requests", 0) > 0 for name in CLASSES):
        return classes
    return None


def test_the_operator_writes_each_class_figures_into_the_status(
    provider: providers.Provider,
    release: ChartRelease,
    gateway: gateway_access.GatewayAccess,
    models_namespace: str,
) -> None:
    # The operator scrapes the gateway pods from inside the cluster, at their pod addresses.
    pod_urls = ",".join(f"http://{e.address}:{e.port}" for e in gateway.endpoints())
    chart_release.upgrade(
        provider,
        release,
        set_values=[
            f"operator.slo.gatewayUrls={{{pod_urls}}}",
            "operator.slo.window=20s",
            "operator.slo.interval=5s",
        ],
    )

    def figures_after_traffic() -> dict[str, Any] | None:
        # A direct scrape's figures change once per window: keep traffic flowing until one
        # window holding it is written.
        _serve_both_classes(gateway, requests=2)
        return _slo_classes_served(provider, models_namespace)

    classes = waiting.until(
        figures_after_traffic,
        what="see status.slo count requests of both classes",
        timeout_s=150,
        interval_s=2.0,
        describe=lambda: yaml.safe_dump(_modelservice(provider, models_namespace).get("status")),
    )
    # Requests count when they arrive and attainments when they end, so with traffic across the
    # window's start `attained` may exceed `requests`; the status caps attainment at 1.
    for slo_class in CLASSES:
        assert classes[slo_class]["attained"] > 0
        assert 0 < classes[slo_class]["attainment"] <= 1
    body = _modelservice(provider, models_namespace)
    # A direct scrape's window is what it measured: the 20 s asked for, plus the time its
    # scrapes took on a loaded node.
    window = re.fullmatch(r"(\d+)s", body["status"]["slo"]["window"])
    assert window is not None, body["status"]["slo"]
    assert 20 <= int(window.group(1)) <= 30, body["status"]["slo"]
    listed = provider.cluster.kubectl("get", "msvc", NAME, "-n", models_namespace).stdout
    header, row = listed.splitlines()
    attainment = row[header.index("ATTAINMENT") :]
    for slo_class in CLASSES:
        assert re.search(rf"\b{slo_class} [0-9.]+%", attainment), listed


def test_deleting_the_modelservice_collects_everything_it_made(
    provider: providers.Provider, gateway: gateway_access.GatewayAccess, models_namespace: str
) -> None:
    provider.cluster.kubectl("delete", "-n", models_namespace, f"msvc/{NAME}", "--wait=true")

    def collected() -> bool:
        children = [
            kind
            for kind in CHILD_KINDS
            if kube.exists(provider.cluster, kind, NAME, models_namespace)
        ]
        return not children and not _engine_pods(provider, models_namespace)

    waiting.until(
        collected, what="see the children and engine pods garbage-collected", timeout_s=180
    )
    waiting.until(
        lambda: (
            not any(
                MODEL in {m["id"] for m in httpx.get(f"{url}/v1/models", timeout=10).json()["data"]}
                for url in gateway.urls()
            )
        ),
        what=f"see the gateway stop listing {MODEL}",
        timeout_s=60,
    )
