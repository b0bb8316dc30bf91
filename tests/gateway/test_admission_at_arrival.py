"""What the gateway answers at arrival: bounded queues, prompts over the context, the numbers of
a refusal in fields, and the client errors kept apart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gateway_fakes import MODEL, FakeEngine
from prometheus_client.parser import text_string_to_metric_families

TENANTS = {"tenants": [{"name": "t", "keys": ["k"]}]}


def headers(slo_class: str) -> dict[str, str]:
    return {"authorization": "Bearer k", "x-slo-class": slo_class}


async def ready(client: Any) -> None:
    """Wait (on the event loop, not the clock) for the first scrape of the engines."""
    for _ in range(200):
        if (await client.get("/readyz")).status_code == 200:
            return
        await asyncio.sleep(0)
    raise AssertionError("the gateway never became ready")


async def samples(client: Any, name: str, **labels: str) -> float:
    text = (await client.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def test_a_full_class_queue_is_429_queue_full_with_the_limit_in_fields(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    # the engine's only slot is taken by another client's request: requests queue
    fake_engine.running = 1
    client = await gateway_client(
        tenants=TENANTS, models_extra={"maxNumSeqs": 1}, max_queue_per_class={"batch": 1}
    )
    await ready(client)
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 5}

    queued = asyncio.ensure_future(
        client.post("/v1/completions", json=body, headers=headers("batch"))
    )
    for _ in range(50):
        await asyncio.sleep(0)
    refused = await client.post("/v1/completions", json=body, headers=headers("batch"))

    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "queue_full"
    assert (error["queue_limit"], error["queue_scope"]) == (1, "class")
    assert refused.headers["retry-after"] == "1"
    assert not queued.done()
    fake_engine.running = 0
    assert (await queued).status_code == 200


async def test_a_prompt_over_the_context_is_400_not_429(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    client = await gateway_client(tenants=TENANTS, models_extra={"maxModelLen": 100})

    tokens = await client.post(
        "/v1/completions",
        json={"model": MODEL, "prompt": [1] * 100, "max_tokens": 5},
        headers=headers("interactive"),
    )
    budget = await client.post(
        "/v1/completions",
        json={"model": MODEL, "prompt": [1] * 60, "max_tokens": 50},
        headers=headers("interactive"),
    )
    # 480 characters: about 120 tokens by the estimate, but a tokenizer could make them 60
    text = await client.post(
        "/v1/completions",
        json={"model": MODEL, "prompt": "abcd" * 120, "max_tokens": 5},
        headers=headers("batch"),
    )

    assert tokens.status_code == budget.status_code == 400
    assert tokens.json()["error"]["code"] == "prompt_too_long"
    assert tokens.json()["error"]["param"] is None
    assert budget.json()["error"]["param"] == "max_tokens"
    assert budget.json()["error"]["max_model_len"] == 100
    assert "retry-after" not in tokens.headers
    assert text.status_code == 200
    assert len(fake_engine.seen) == 1
    assert await samples(client, "sloserve_requests_rejected_total", reason="prompt_too_long") == 2


async def test_the_context_limit_is_read_from_the_engines_model_list(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    fake_engine.max_model_len = 64
    client = await gateway_client(tenants=TENANTS)
    await ready(client)
    for _ in range(50):
        await asyncio.sleep(0)

    response = await client.post(
        "/v1/completions",
        json={"model": MODEL, "prompt": [1] * 64},
        headers=headers("batch"),
    )

    assert response.status_code == 400
    assert response.json()["error"]["max_model_len"] == 64


async def test_ttft_rejections_keep_one_message_and_put_the_numbers_in_fields(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    client = await gateway_client(tenants=TENANTS)
    answers = [
        await client.post(
            "/v1/completions",
            json={"model": MODEL, "prompt": "word " * words, "max_tokens": 5},
            headers=headers("interactive"),
        )
        for words in (120_000, 200_000)
    ]

    errors = [answer.json()["error"] for answer in answers]
    assert [answer.status_code for answer in answers] == [429, 429]
    assert errors[0]["message"] == errors[1]["message"]
    assert errors[0]["predicted_ttft_ms"] < errors[1]["predicted_ttft_ms"]
    for error, answer in zip(errors, answers, strict=True):
        assert error["retry_after_ms"] == pytest.approx(error["predicted_ttft_ms"] - 500, abs=0.2)
        assert int(answer.headers["retry-after"]) == max(1, -(-error["retry_after_ms"] // 1000))


async def test_an_engines_4xx_is_a_client_error_not_a_failure(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    fake_engine.status = 400
    client = await gateway_client(tenants=TENANTS)

    response = await client.post(
        "/v1/completions",
        json={"model": MODEL, "prompt": "x", "max_tokens": 5, "n": 2},
        headers=headers("standard"),
    )

    assert response.status_code == 400
    assert await samples(client, "sloserve_requests_finished_total", outcome="client_error") == 1
    assert await samples(client, "sloserve_requests_finished_total", outcome="failed") == 0


async def test_readyz_fails_while_a_model_has_no_engine_that_answers(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    fake_engine.metrics_down = True
    client = await gateway_client(tenants=TENANTS)
    for _ in range(50):
        await asyncio.sleep(0)

    down = await client.get("/readyz")
    fake_engine.metrics_down = False

    assert down.status_code == 503
    assert down.json()["status"] == "models not servable"
    assert "none of its 1 engine(s) answers its metrics" in down.json()["problems"][0]
