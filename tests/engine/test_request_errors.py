"""Bad requests get an OpenAI-style error naming the field, as vLLM answers them."""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import MODEL, in_process, settings

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "max_tokens": 9000}, "max_tokens"),
        (
            CHAT,
            {"model": MODEL, "messages": HELLO, "max_completion_tokens": 9000},
            "max_completion_tokens",
        ),
        (
            COMPLETIONS,
            {"model": MODEL, "prompt": "hi", "max_tokens": 2, "min_tokens": 5},
            "min_tokens",
        ),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "priority": 3}, "priority"),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "n": 2}, "n"),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "logprobs": 1}, "logprobs"),
        (COMPLETIONS, {"model": MODEL, "prompt": "", "max_tokens": 2}, "prompt"),
        (COMPLETIONS, {"model": MODEL, "prompt": ["a", "b"]}, "prompt"),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "max_tokens": "many"}, "max_tokens"),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "max_tokens": 0}, "max_tokens"),
        (CHAT, {"model": MODEL}, "messages"),
        (CHAT, {"model": MODEL, "messages": [{"content": "no role"}]}, "messages[0].role"),
        (
            CHAT,
            {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].type",
        ),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "slo_tpot_ms": -5}, "slo_tpot_ms"),
    ],
)  # fmt: skip
async def test_a_bad_field_gets_a_400_naming_it(
    path: str, body: dict[str, Any], param: str
) -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["type"] == "BadRequestError"
    assert error["code"] == 400
    assert error["message"]


async def test_an_unknown_model_gets_a_404_naming_the_served_ones() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(COMPLETIONS, json={"model": "gpt-9", "prompt": "hi"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["param"] == "model"
    assert MODEL in error["message"]


async def test_a_body_that_is_not_json_gets_a_400_saying_so() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            COMPLETIONS, content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]


async def test_a_malformed_tpot_header_gets_a_400_naming_the_header() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            COMPLETIONS,
            headers={"x-slo-tpot-ms": "fast"},
            json={"model": MODEL, "prompt": "hi", "max_tokens": 1},
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "x-slo-tpot-ms"


async def test_unknown_fields_are_ignored_with_a_logged_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            COMPLETIONS, json={"model": MODEL, "prompt": "hi", "max_tokens": 1, "best_of": 3}
        )
    assert response.status_code == 200
    assert "best_of" in caplog.text
