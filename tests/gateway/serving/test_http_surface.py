"""What a client sees of the gateway's HTTP surface beyond generation: body limits and types,
the health probe, and the headers and shape of every refusal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gateway_fakes import MODEL, FakeEngine

TENANTS = {"tenants": [{"name": "t", "keys": ["k"]}]}
AUTH = {"authorization": "Bearer k"}
# Far more prompt than the synthetic profile prefills within an interactive 500 ms.
LONG_PROMPT = "word " * 200_000


def completion(prompt: str = "hello") -> bytes:
    return json.dumps({"model": MODEL, "prompt": prompt, "max_tokens": 3}).encode()


async def test_a_body_over_the_limit_is_413_before_it_reaches_an_engine(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    client = await gateway_client(server={"max_request_body_bytes": 1000})
    body = completion("x" * 2000)
    response = await client.post(
        "/v1/completions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("request_too_large", "body")
    assert (error["max_body_bytes"], error["body_bytes"]) == (1000, len(body))
    assert response.headers["x-request-id"].startswith("req-")
    assert fake_engine.seen == []


async def test_a_chunked_upload_over_the_limit_is_413(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    client = await gateway_client(server={"max_request_body_bytes": 1000})

    async def parts() -> AsyncIterator[bytes]:
        body = completion("x" * 2000)
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    response = await client.post(
        "/v1/completions", content=parts(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert fake_engine.seen == []


async def test_a_body_of_exactly_the_limit_is_served(
    gateway_client: Any, fake_engine: FakeEngine
) -> None:
    body = completion()
    client = await gateway_client(server={"max_request_body_bytes": len(body)})
    response = await client.post(
        "/v1/completions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert len(fake_engine.seen) == 1


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_a_body_that_is_not_declared_json_is_415(
    gateway_client: Any, fake_engine: FakeEngine, content_type: str
) -> None:
    client = await gateway_client()
    response = await client.post(
        "/v1/completions", content=completion(), headers={"content-type": content_type}
    )
    assert response.status_code == 415
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_media_type", "Content-Type")
    assert error["content_type"] == content_type
    assert "application/json" in error["message"]
    assert fake_engine.seen == []


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json; charset=utf-8"},
        {"content-type": "application/vnd+json"},
        {},
    ],
)
async def test_json_with_parameters_or_without_a_type_is_accepted(
    gateway_client: Any, fake_engine: FakeEngine, headers: dict[str, str]
) -> None:
    client = await gateway_client()
    response = await client.post("/v1/completions", content=completion(), headers=headers)
    assert response.status_code == 200
    # Engines get the body's type even when the client sent none.
    assert len(fake_engine.seen) == 1


@pytest.mark.parametrize("path", ["/health", "/healthz"])
async def test_the_health_probes_answer(gateway_client: Any, path: str) -> None:
    client = await gateway_client()
    response = await client.get(path)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_a_429_carries_the_request_id_and_class_and_numbers_in_fields(
    gateway_client: Any,
) -> None:
    client = await gateway_client(tenants=TENANTS)
    answers = []
    for prompt in (LONG_PROMPT, LONG_PROMPT + "word " * 20_000):
        response = await client.post(
            "/v1/completions",
            json={"model": MODEL, "prompt": prompt, "max_tokens": 5},
            headers={**AUTH, "x-slo-class": "interactive"},
        )
        assert response.status_code == 429
        assert response.headers["x-slo-class"] == "interactive"
        assert response.headers["x-request-id"].startswith("req-")
        answers.append(response.json()["error"])
    first, second = answers
    # One message for every refusal of one reason and class; the numbers differ in their fields.
    assert first["message"] == second["message"]
    assert first["predicted_ttft_ms"] < second["predicted_ttft_ms"]
    assert (first["ttft_target_ms"], first["tpot_target_ms"]) == (500.0, 50.0)
    assert first["retry_after_s"] >= 1
    assert str(round(first["predicted_ttft_ms"])) in first["detail"]


async def test_an_error_before_classification_still_carries_a_request_id(
    gateway_client: Any,
) -> None:
    client = await gateway_client(tenants=TENANTS)
    response = await client.post("/v1/completions", content=completion())
    assert response.status_code == 401
    assert response.headers["x-request-id"].startswith("req-")
    assert "x-slo-class" not in response.headers


async def test_a_wrong_method_is_an_openai_shaped_405(gateway_client: Any) -> None:
    client = await gateway_client()
    response = await client.get("/v1/completions")
    assert response.status_code == 405
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", None)
