"""Counting prompt tokens with a model's own tokenizer, built here from its files."""

from __future__ import annotations

import pytest
import tokenizer_files

from sloserve.gateway import model_tokenizer

Turn = model_tokenizer.ChatTurn


def tokenizer(
    *, chat_template: str | None = tokenizer_files.CHAT_TEMPLATE
) -> model_tokenizer.ModelTokenizer:
    return model_tokenizer.ModelTokenizer.from_texts(
        tokenizer_files.tokenizer_json(),
        tokenizer_files.tokenizer_config_json(chat_template=chat_template),
    )


def test_a_completion_prompt_counts_its_tokens_and_the_bos_the_tokenizer_adds() -> None:
    # <s> hello world; <s> hello [UNK] [UNK] world
    assert tokenizer().count_texts(["hello world", "hello there big world"]) == [3, 5]


def test_a_chat_request_is_counted_on_its_chat_template() -> None:
    counter = tokenizer()
    turns = [Turn(role="system", content="hello"), Turn(role="user", content="hello world")]
    assert counter.chat_text(turns) == "<s><|system|> hello <|user|> hello world <|assistant|>"
    # <s> <|system|> hello <|user|> hello world <|assistant|>: the template's BOS, not a second
    assert counter.count_chat(turns) == 7


def test_without_a_chat_template_roles_are_joined_one_message_a_line() -> None:
    counter = tokenizer(chat_template=None)
    turns = [Turn(role="user", content="hello world")]
    assert not counter.has_chat_template
    assert counter.chat_text(turns) == "user: hello world\nassistant:"
    assert counter.count_chat(turns) == 4


def test_a_template_may_refuse_a_conversation() -> None:
    import jinja2

    with pytest.raises(jinja2.TemplateError, match="no tool turns"):
        tokenizer().count_chat([Turn(role="tool", content="x")])


def test_named_chat_templates_use_the_default_one() -> None:
    import json

    config = json.dumps(
        {
            "chat_template": [
                {"name": "tool_use", "template": "tools"},
                {"name": "default", "template": "{{ messages[0]['content'] }}"},
            ]
        }
    )
    counter = model_tokenizer.ModelTokenizer.from_texts(tokenizer_files.tokenizer_json(), config)
    assert counter.chat_text([Turn(role="user", content="hello")]) == "hello"


@pytest.mark.parametrize(
    ("tokenizer_json", "config_json", "named"),
    [
        ("{not json", None, "tokenizer.json"),
        (tokenizer_files.tokenizer_json(), "[1, 2]", "tokenizer_config.json"),
        (tokenizer_files.tokenizer_json(), '{"chat_template": "{% for %}"}', "chat_template"),
    ],
)
def test_files_that_do_not_read_are_refused_naming_the_file(
    tokenizer_json: str, config_json: str | None, named: str
) -> None:
    with pytest.raises(model_tokenizer.TokenizerFilesError, match=named):
        model_tokenizer.ModelTokenizer.from_texts(tokenizer_json, config_json)
