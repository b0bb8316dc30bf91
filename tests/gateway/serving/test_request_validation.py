"""Malformed bodies are refused with 400 and an OpenAI error naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_fakes import MODEL

from sloserve.gateway.serving import generation

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/chat/completions", {"messages": USER}, "model"),
        ("/v1/chat/completions", {"model": MODEL}, "messages"),
        ("/v1/chat/completions", {"model": MODEL, "messages": []}, "messages"),
        (
            "/v1/chat/completions",
            {"model": MODEL, "messages": [{"content": "x"}]},
            "messages.0.role",
        ),
        ("/v1/chat/completions", {"model": MODEL, "messages": USER, "max_tokens": 0}, "max_tokens"),
        ("/v1/chat/completions", {"model": MODEL, "messages": USER, "stream": "yes"}, "stream"),
        ("/v1/completions", {"model": MODEL}, "prompt"),
        ("/v1/completions", {"model": MODEL, "prompt": 7}, "prompt"),
        ("/v1/completions", {"model": 3, "prompt": "x"}, "model"),
    ],
)
async def test_a_bad_field_is_400_naming_it(
    gateway_client: Any, path: str, body: dict[str, Any], field: str
) -> None:
    client = await gateway_client()
    response = await client.post(path, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == field
    assert field in error["message"]


async def test_a_body_that_is_not_json_is_400(gateway_client: Any) -> None:
    client = await gateway_client()
    response = await client.post("/v1/chat/completions", content=b"{not json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "body"


async def test_an_unknown_model_is_404_listing_the_served_ones(gateway_client: Any) -> None:
    client = await gateway_client()
    response = await client.post("/v1/completions", json={"model": "nope", "prompt": "x"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("model_not_found", "model")
    assert MODEL in error["message"]


async def test_an_unknown_path_answers_in_the_openai_error_shape(gateway_client: Any) -> None:
    client = await gateway_client()
    response = await client.get("/v1/nothing")
    assert response.status_code == 404
    assert "message" in response.json()["error"]


async def test_an_unexpected_failure_is_an_openai_shaped_500(
    gateway_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await gateway_client()

    async def broken(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(generation, "serve", broken)
    response = await client.post("/v1/completions", json={"model": MODEL, "prompt": "x"})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "internal_error"
