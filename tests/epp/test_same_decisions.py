"""The picker and the gateway decide alike: the same request, with the same headers, tenants and
models, is refused with the same status and code, or admitted in the same class, by both."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from envoy_client import request_headers
from epp_harness import CLASSES, MODEL, engine_url
from prometheus_client import generate_latest, parser

from sloserve.gateway import app as gateway_app
from sloserve.gateway import settings as gateway_settings

TENANTS = {
    "tenants": [
        {"name": "team", "keys": ["k"], "allowedClasses": ["interactive", "standard"]},
        {"name": "batch-jobs", "keys": ["b"], "allowedClasses": ["batch"], "defaultClass": "batch"},
    ]
}
LONG_PROMPT = "word " * 200_000


def body(**fields: Any) -> bytes:
    return json.dumps({"model": MODEL, "prompt": "hi", "max_tokens": 4, **fields}).encode()


CASES: list[tuple[str, dict[str, str], bytes]] = [
    ("the tenant's classes, no header", {"authorization": "Bearer k"}, body()),
    ("a tenant's default class", {"authorization": "Bearer b"}, body()),
    ("a named class", {"authorization": "Bearer k", "x-slo-class": "interactive"}, body()),
    (
        "the extension's objective",
        {"authorization": "Bearer k", "x-gateway-inference-objective": "interactive"},
        body(),
    ),
    (
        "a TTFT objective picks a class",
        {"authorization": "Bearer k", "x-slo-ttft-ms": "4000"},
        body(),
    ),
    ("a TTFT no class meets", {"authorization": "Bearer k", "x-slo-ttft-ms": "100"}, body()),
    (
        "class and objective disagree",
        {
            "authorization": "Bearer k",
            "x-slo-class": "standard",
            "x-gateway-inference-objective": "interactive",
        },
        body(),
    ),
    ("an unknown class", {"authorization": "Bearer k", "x-slo-class": "gold"}, body()),
    ("a class not allowed", {"authorization": "Bearer k", "x-slo-class": "batch"}, body()),
    (
        "a TPOT tighter than the class",
        {"authorization": "Bearer k", "x-slo-class": "standard", "x-slo-tpot-ms": "5"},
        body(),
    ),
    ("an unknown key", {"authorization": "Bearer nope"}, body()),
    ("an unknown model", {"authorization": "Bearer k"}, body(model="other")),
    ("a malformed body", {"authorization": "Bearer k"}, body(max_tokens=0)),
    (
        "an unattainable TTFT",
        {"authorization": "Bearer k", "x-slo-class": "interactive"},
        body(prompt=LONG_PROMPT),
    ),
]


def outcome(status: int, payload: dict[str, Any] | None, slo_class: str | None) -> tuple[Any, ...]:
    if status == 200:
        return ("admitted", slo_class)
    assert payload is not None
    error = payload["error"]
    return ("refused", status, error.get("code"), error.get("param"))


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    models = tmp_path / "gateway-models.yaml"
    entry = {
        "model": MODEL,
        "profile": "synthetic",
        "sloClasses": CLASSES,
        "defaultClass": "standard",
        "engines": [engine_url(0), engine_url(1)],
    }
    models.write_text(yaml.safe_dump({"models": [entry]}))
    tenants = tmp_path / "gateway-tenants.yaml"
    tenants.write_text(yaml.safe_dump(TENANTS))
    config = gateway_settings.GatewaySettings(
        sources=gateway_settings.SourceSettings(config_file=models, tenants_file=tenants),
        shutdown=gateway_settings.ShutdownSettings(grace_period_s=1.0),
    )

    def engine(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            return httpx.Response(200, text='vllm:num_requests_running{model_name="m"} 0\n')
        usage = {"completion_tokens": 1, "prompt_tokens": 1, "total_tokens": 2}
        return httpx.Response(200, json={"choices": [{"text": "x"}], "usage": usage})

    app = gateway_app.create_app(config, engine_transport=httpx.MockTransport(engine))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
    yield client
    await client.aclose()
    await lifespan.__aexit__(None, None, None)


async def epp_outcome(epp: Any, headers: dict[str, str], payload: bytes) -> tuple[Any, ...]:
    stream = epp.stream()
    await stream.request_headers(request_headers(extra=headers))
    await stream.request_body(payload, end_of_stream=True)
    answer = await stream.answer()
    if answer.kind == "immediate_response":
        return outcome(answer.status, json.loads(answer.body), None)
    await stream.body_back()
    await stream.response_headers(status=200, content_type="application/json")
    slo_class = (await stream.answer()).set_headers()["x-slo-class"]
    whole = {"choices": [{"text": "x"}], "usage": {"completion_tokens": 1}}
    await stream.response_body(json.dumps(whole).encode(), end_of_stream=True)
    await stream.answer()
    return outcome(200, None, slo_class)


async def test_the_picker_and_the_gateway_reach_the_same_decisions(
    picker: Any, gateway: httpx.AsyncClient
) -> None:
    epp = await picker(engines=2, tenants=TENANTS)
    for name, headers, payload in CASES:
        answer = await gateway.post(
            "/v1/completions",
            content=payload,
            headers={**headers, "content-type": "application/json"},
        )
        expected = outcome(
            answer.status_code,
            answer.json() if answer.status_code != 200 else None,
            answer.headers.get("x-slo-class"),
        )
        assert await epp_outcome(epp, headers, payload) == expected, name
    gateway_page = (await gateway.get("/metrics")).text
    for family in COUNTED:
        assert counts(gateway_page, family) == counts(epp_page(epp), family), family
        assert counts(gateway_page, family), f"{family} counted nothing"


COUNTED = (
    "sloserve_requests_total",
    "sloserve_requests_admitted_total",
    "sloserve_requests_rejected_total",
)


def counts(page: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in parser.text_string_to_metric_families(page)
        for sample in family.samples
        if sample.name == name
    }


def epp_page(epp: Any) -> str:
    return generate_latest(epp.ctx.metrics.registry).decode()
