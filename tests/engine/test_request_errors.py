"""Bad requests get an OpenAI-style error naming the field, as vLLM answers them."""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import MODEL, in_process, settings

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
HELLO = [{"role": "user", "content": "hello"}]


BAD = "BadRequestError"  # vLLM's own checks
INVALID = "Bad Request"  # a body that fails validation


@pytest.mark.parametrize(
    ("path", "body", "kind", "param"),
    [
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "max_tokens": 9000}, BAD, "max_tokens"),
        (
            CHAT,
            {"model": MODEL, "messages": HELLO, "max_completion_tokens": 9000},
            BAD, "max_completion_tokens",
        ),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "max_tokens": 2, "min_tokens": 5},
         BAD, None),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "min_tokens": -1}, BAD, None),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "n": 0}, BAD, None),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "n": 2}, BAD, "n"),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "logprobs": 1}, BAD, "logprobs"),
        (COMPLETIONS, {"model": MODEL, "prompt": "", "max_tokens": 2}, BAD, "prompt"),
        (COMPLETIONS, {"model": MODEL, "max_tokens": 2}, BAD, "prompt"),
        (COMPLETIONS, {"model": MODEL, "prompt": ["a", "b"]}, BAD, "prompt"),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "max_tokens": 0}, BAD, "max_tokens"),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "max_tokens": -3}, BAD, "max_tokens"),
        (CHAT, {"model": MODEL, "messages": HELLO, "max_completion_tokens": 0}, BAD, "max_tokens"),
        (CHAT, {"model": MODEL, "messages": []}, BAD, None),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "max_tokens": "many"},
         INVALID, "body.max_tokens"),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "max_tokens": 2.5},
         INVALID, "body.max_tokens"),
        (CHAT, {"model": MODEL}, INVALID, "body.messages"),
        (CHAT, {"model": MODEL, "messages": [{"content": "no role"}]},
         INVALID, "body.messages.0.role"),
        (
            CHAT,
            {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            BAD, "messages[0].content[0].type",
        ),
        (COMPLETIONS, {"model": MODEL, "prompt": "hi", "slo_tpot_ms": -5},
         INVALID, "body.slo_tpot_ms"),
    ],
)  # fmt: skip
async def test_a_bad_field_gets_a_400_naming_it_as_vllm_does(
    path: str, body: dict[str, Any], kind: str, param: str | None
) -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == (kind, param)
    assert error["code"] == 400
    assert error["message"]


async def test_an_over_length_prompt_is_refused_naming_the_input_tokens() -> None:
    async with in_process(settings()) as (client, _):
        words = " ".join(["word"] * 8193)
        response = await client.post(COMPLETIONS, json={"model": MODEL, "prompt": words})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == (BAD, "input_tokens")
    assert "8193 input tokens" in error["message"]


async def test_an_output_limit_past_the_context_is_cut_to_what_fits() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            COMPLETIONS, json={"model": MODEL, "prompt": [7] * 8190, "max_tokens": 50}
        )
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] == 2
    assert response.json()["choices"][0]["finish_reason"] == "length"


async def test_a_prompt_that_fills_the_context_leaves_no_room_for_output() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            COMPLETIONS, json={"model": MODEL, "prompt": [7] * 8192, "max_tokens": 5}
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "max_tokens"


async def test_an_omitted_model_means_the_first_served_name() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(COMPLETIONS, json={"prompt": "hi", "max_tokens": 1})
    assert response.status_code == 200
    assert response.json()["model"] == MODEL


async def test_priority_is_accepted_under_every_policy() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            COMPLETIONS, json={"model": MODEL, "prompt": "hi", "max_tokens": 1, "priority": 3}
        )
    assert response.status_code == 200, response.text


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
    error = response.json()["error"]
    assert "JSON" in error["message"]
    assert (error["type"], error["param"]) == (INVALID, "body.1")


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
