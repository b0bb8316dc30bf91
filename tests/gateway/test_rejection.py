"""Requests the TTFT guard finds unattainable are refused at once: 429, a body naming the class
and the prediction, and Retry-After."""

from __future__ import annotations

from typing import Any

from gateway_fakes import MODEL, FakeEngine

# Far more prompt than the synthetic H100 profile prefills within an interactive 500 ms.
LONG_PROMPT = "word " * 200_000


async def test_an_unattainable_ttft_is_429_naming_class_and_prediction(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    client = await gateway_client(tenants={"tenants": [{"name": "t", "keys": ["k"]}]})
    response = await client.post(
        "/v1/completions",
        json={"model": MODEL, "prompt": LONG_PROMPT, "max_tokens": 5},
        headers={"authorization": "Bearer k", "x-slo-class": "interactive"},
    )
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "ttft_unattainable"
    assert error["slo_class"] == "interactive"
    assert error["predicted_ttft_ms"] > error["ttft_target_ms"] == 500.0
    assert "interactive" in error["message"]
    assert int(response.headers["retry-after"]) >= 1
    assert fake_engine.seen == []


async def test_the_same_prompt_in_a_looser_class_is_served(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    client = await gateway_client(tenants={"tenants": [{"name": "t", "keys": ["k"]}]})
    response = await client.post(
        "/v1/completions",
        json={"model": MODEL, "prompt": LONG_PROMPT, "max_tokens": 5},
        headers={"authorization": "Bearer k", "x-slo-class": "batch"},
    )
    assert response.status_code == 200
    assert len(fake_engine.seen) == 1
