"""An engine that fails before the first byte: the request goes to another engine, or the client
hears that the engine failed."""

from __future__ import annotations

from typing import Any

from gateway_fakes import MODEL, FakeEngine

BODY = {"model": MODEL, "prompt": "hello", "max_tokens": 3}


async def test_a_failing_engine_is_retried_on_another(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    fake_engine.status = 503
    fake_engine.failing_hosts = {"engine-a.test"}
    client = await gateway_client(engines=["http://engine-a.test", "http://engine-b.test"])
    statuses = []
    for _ in range(2):
        response = await client.post("/v1/completions", json=BODY)
        statuses.append(response.status_code)
    assert statuses == [200, 200]
    # Idle engines tie and the first listed wins; once it failed it is out of routing.
    assert fake_engine.hosts == ["engine-a.test", "engine-b.test", "engine-b.test"]
    metrics = (await client.get("/metrics")).text
    assert 'sloserve_requests_retried_total{model="test-model"' in metrics


async def test_with_no_engine_left_the_client_gets_502(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    fake_engine.status = 500
    client = await gateway_client()
    response = await client.post("/v1/completions", json={**BODY, "stream": True})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "engine_failed"
    metrics = (await client.get("/metrics")).text
    assert 'reason="engine_failed"' in metrics


async def test_an_engines_4xx_goes_back_to_the_client_unchanged(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    fake_engine.status = 400
    client = await gateway_client()
    response = await client.post("/v1/completions", json=BODY)
    assert response.status_code == 400
    assert response.json() == {"error": {"message": "engine says no"}}
    assert len(fake_engine.seen) == 1
