"""The OpenAI Python SDK against the gateway in front of a real engine simulator: streaming and
whole answers on both endpoints, classes by header, and the errors it raises for refusals."""

from __future__ import annotations

import openai
import pytest
from gateway_processes import KEY, MODEL, Server, metric_value

USER = [{"role": "user", "content": "say something"}]


def client(gateway: Server, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def test_streamed_chat_arrives_token_by_token(instant_gateway: Server) -> None:
    stream = client(instant_gateway).chat.completions.create(
        model=MODEL, messages=USER, max_tokens=12, stream=True
    )
    texts = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    assert sum(1 for text in texts if text) == 12


def test_whole_completion_reports_its_usage(instant_gateway: Server) -> None:
    answer = client(instant_gateway).completions.create(model=MODEL, prompt="one two", max_tokens=7)
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 7


def test_models_lists_the_model_with_its_classes(instant_gateway: Server) -> None:
    (model,) = client(instant_gateway).models.list().data
    assert model.id == MODEL
    assert [c["name"] for c in model.model_extra["slo_classes"]] == [
        "interactive",
        "standard",
        "batch",
    ]


def test_the_class_header_picks_the_class_and_is_counted(instant_gateway: Server) -> None:
    before = metric_value(instant_gateway, "sloserve_requests_total", slo_class="batch")
    raw = client(instant_gateway).completions.with_raw_response.create(
        model=MODEL, prompt="x", max_tokens=2, extra_headers={"x-slo-class": "batch"}
    )
    assert raw.headers["x-slo-class"] == "batch"
    after = metric_value(instant_gateway, "sloserve_requests_total", slo_class="batch")
    assert after == before + 1


def test_a_class_outside_the_tenants_rights_raises_permission_denied(
    instant_gateway: Server,
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client(instant_gateway, key="key-batch").completions.create(
            model=MODEL, prompt="x", max_tokens=2, extra_headers={"x-slo-class": "interactive"}
        )
    assert refused.value.body["slo_class"] == "interactive"


def test_an_unknown_key_raises_authentication_error(instant_gateway: Server) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(instant_gateway, key="wrong").completions.create(model=MODEL, prompt="x")


def test_an_unattainable_ttft_raises_rate_limit_with_class_and_prediction(
    instant_gateway: Server,
) -> None:
    with pytest.raises(openai.RateLimitError) as refused:
        client(instant_gateway).completions.create(
            model=MODEL,
            prompt=[1] * 60_000,
            max_tokens=2,
            extra_headers={"x-slo-class": "interactive"},
        )
    body = refused.value.body
    assert body["code"] == "ttft_unattainable"
    assert body["slo_class"] == "interactive"
    assert body["predicted_ttft_ms"] > 500
    assert body["retry_after_ms"] == pytest.approx(body["predicted_ttft_ms"] - 500, abs=0.2)
    assert int(refused.value.response.headers["retry-after"]) >= 1


def test_a_prompt_over_the_context_raises_bad_request_not_rate_limit(
    instant_gateway: Server,
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client(instant_gateway).completions.create(
            model=MODEL,
            prompt=[1] * 131_000,
            max_tokens=2_000,
            extra_headers={"x-slo-class": "interactive"},
        )
    body = refused.value.body
    assert body["code"] == "prompt_too_long"
    assert body["param"] == "max_tokens"
    # read from the engine's /v1/models: the gateway was told no limit
    assert body["max_model_len"] == 131_072
    assert (body["prompt_tokens"], body["max_tokens"]) == (131_000, 2_000)


def test_a_malformed_body_raises_bad_request_naming_the_field(instant_gateway: Server) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client(instant_gateway).chat.completions.create(model=MODEL, messages=[], max_tokens=2)
    assert refused.value.body["param"] == "messages"
