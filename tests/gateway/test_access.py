"""API keys and SLO classes over HTTP: 401, 403, and the class a request ran in."""

from __future__ import annotations

from typing import Any

from gateway_fakes import MODEL, FakeEngine

TENANTS = {
    "tenants": [
        {"name": "gold", "keys": ["k-gold"]},
        {
            "name": "cheap",
            "keys": ["k-cheap"],
            "allowedClasses": ["batch"],
            "defaultClass": "batch",
        },
    ]
}
BODY = {"model": MODEL, "prompt": "hello", "max_tokens": 3}


async def test_a_bad_key_is_401(gateway_client: Any) -> None:
    client = await gateway_client(tenants=TENANTS)
    response = await client.post(
        "/v1/completions", json=BODY, headers={"authorization": "Bearer x"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


async def test_a_forbidden_class_is_403_and_the_engine_never_sees_it(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    client = await gateway_client(tenants=TENANTS)
    response = await client.post(
        "/v1/completions",
        json=BODY,
        headers={"authorization": "Bearer k-cheap", "x-slo-class": "interactive"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["slo_class"] == "interactive"
    assert fake_engine.seen == []


async def test_the_answer_names_the_class_the_request_ran_in(gateway_client: Any) -> None:
    client = await gateway_client(tenants=TENANTS)
    cheap = await client.post(
        "/v1/completions", json=BODY, headers={"authorization": "Bearer k-cheap"}
    )
    gold = await client.post(
        "/v1/completions",
        json=BODY,
        headers={"authorization": "Bearer k-gold", "x-gateway-inference-objective": "interactive"},
    )
    assert (cheap.status_code, cheap.headers["x-slo-class"]) == (200, "batch")
    assert (gold.status_code, gold.headers["x-slo-class"]) == (200, "interactive")


async def test_without_keys_requests_run_in_the_default_class(gateway_client: Any) -> None:
    client = await gateway_client()
    plain = await client.post("/v1/completions", json=BODY, headers={"authorization": "Bearer any"})
    upgrade = await client.post(
        "/v1/completions", json=BODY, headers={"x-slo-class": "interactive"}
    )
    assert (plain.status_code, plain.headers["x-slo-class"]) == (200, "standard")
    assert upgrade.status_code == 403


async def test_the_client_key_is_not_forwarded_and_the_body_is_unchanged(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    client = await gateway_client(tenants=TENANTS)
    body = {**BODY, "temperature": 0.3, "seed": 7}
    await client.post("/v1/completions", json=body, headers={"authorization": "Bearer k-gold"})
    assert fake_engine.seen == [body]
