"""From a request body to what the engine runs: token counts, output length, TPOT target."""

from __future__ import annotations

import pytest
from server_helpers import MODEL, settings

from sloserve.engine import config
from sloserve.engine.server import admission, protocol

ENGINE = settings().engine


def _admit(
    body: protocol.GenerationRequest,
    headers: dict[str, str] | None = None,
    engine: config.EngineConfig = ENGINE,
) -> admission.Admitted:
    return admission.admit(
        body, headers=headers or {}, served_model_names=(MODEL,), engine_config=engine, created=1
    )


def _chat(**fields: object) -> protocol.ChatCompletionRequest:
    return protocol.ChatCompletionRequest.model_validate(
        {"model": MODEL, "messages": [{"role": "user", "content": "four words right here"}]}
        | fields
    )


def test_the_tpot_target_comes_from_the_gateways_header() -> None:
    admitted = _admit(_chat(), headers={"x-slo-tpot-ms": "30"})
    assert admitted.spec.tpot_target_s == pytest.approx(0.030)


def test_the_header_wins_over_the_body_field() -> None:
    admitted = _admit(_chat(slo_tpot_ms=50), headers={"x-slo-tpot-ms": "30"})
    assert admitted.spec.tpot_target_s == pytest.approx(0.030)


def test_the_body_field_sets_the_target_without_the_header() -> None:
    assert _admit(_chat(slo_tpot_ms=50)).spec.tpot_target_s == pytest.approx(0.050)
    assert _admit(_chat()).spec.tpot_target_s is None


def test_a_chat_prompt_counts_the_words_of_every_message() -> None:
    body = _chat(
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "one two three"}]},
        ]
    )
    assert _admit(body).spec.prompt_tokens == 5


def test_a_chat_without_max_tokens_may_fill_the_context() -> None:
    admitted = _admit(_chat())
    assert admitted.spec.output_tokens == ENGINE.max_model_len - 4


def test_a_completion_without_max_tokens_generates_sixteen() -> None:
    body = protocol.CompletionRequest.model_validate({"model": MODEL, "prompt": [1, 2, 3]})
    admitted = _admit(body)
    assert (admitted.spec.prompt_tokens, admitted.spec.output_tokens) == (3, 16)


def test_priority_reaches_the_engine_under_the_priority_policy() -> None:
    engine = settings(policy=config.Policy.PRIORITY).engine
    admitted = _admit(_chat(priority=-2), engine=engine)
    assert admitted.spec.priority == -2
