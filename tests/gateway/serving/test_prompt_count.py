"""Prompt tokens of a request: token ids, the model's tokenizer, or an estimate; batch prompts
count every member."""

from __future__ import annotations

import tokenizer_files

from sloserve.gateway import model_tokenizer
from sloserve.gateway.serving import prompt_count, schemas


def counter() -> model_tokenizer.ModelTokenizer:
    return model_tokenizer.ModelTokenizer.from_texts(
        tokenizer_files.tokenizer_json(), tokenizer_files.tokenizer_config_json()
    )


def completion(prompt: object, n: int = 1) -> schemas.CompletionRequest:
    return schemas.CompletionRequest.model_validate({"model": "m", "prompt": prompt, "n": n})


def chat(*messages: tuple[str, str]) -> schemas.ChatCompletionRequest:
    return schemas.ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": role, "content": text} for role, text in messages]}
    )


def test_a_batch_of_texts_counts_every_member_and_checks_the_longest() -> None:
    counted = prompt_count.count_prompt(
        completion(["a" * 40, "b" * 400, "c" * 4]), tokenizer=None, chars_per_token=4.0
    )
    assert (counted.total, counted.longest, counted.members) == (111, 100, 3)
    # the context check takes a count no tokenizer goes below
    assert counted.longest_floor == 50
    assert counted.method == "estimate"


def test_a_batch_of_token_id_lists_counts_every_member_exactly() -> None:
    counted = prompt_count.count_prompt(
        completion([[1, 2, 3], [4] * 10]), tokenizer=counter(), chars_per_token=4.0
    )
    assert (counted.total, counted.longest, counted.longest_floor) == (13, 10, 10)
    assert (counted.method, counted.members) == ("token_ids", 2)


def test_one_token_id_list_is_one_member() -> None:
    counted = prompt_count.count_prompt(completion([5, 6, 7]), tokenizer=None, chars_per_token=4)
    assert (counted.total, counted.members, counted.method) == (3, 1, "token_ids")


def test_the_models_tokenizer_counts_a_batch_of_texts() -> None:
    counted = prompt_count.count_prompt(
        completion(["hello world", "hello"]), tokenizer=counter(), chars_per_token=4.0
    )
    assert (counted.total, counted.longest, counted.method) == (5, 3, "tokenizer")


def test_the_models_tokenizer_counts_a_chat_request_through_its_template() -> None:
    counted = prompt_count.count_prompt(
        chat(("user", "hello world")), tokenizer=counter(), chars_per_token=4.0
    )
    # <s> <|user|> hello world <|assistant|>
    assert (counted.total, counted.method) == (5, "tokenizer")


def test_a_conversation_the_template_refuses_is_estimated() -> None:
    counted = prompt_count.count_prompt(
        chat(("tool", "x" * 40)), tokenizer=counter(), chars_per_token=4.0
    )
    assert (counted.total, counted.method) == (10, "estimate")


def test_without_a_tokenizer_a_chat_request_is_estimated_from_its_characters() -> None:
    counted = prompt_count.count_prompt(
        chat(("system", "s" * 8), ("user", "u" * 32)), tokenizer=None, chars_per_token=4.0
    )
    assert (counted.total, counted.members, counted.method) == (10, 1, "estimate")


async def test_a_long_prompt_counted_off_the_event_loop_counts_the_same() -> None:
    words = ("hello world " * (prompt_count.INLINE_CHARACTERS // 6)).strip()
    body = completion([words, "hello"])
    assert sum(body.prompt_characters()) > prompt_count.INLINE_CHARACTERS
    off_loop = await prompt_count.count_prompt_off_loop(
        body, tokenizer=counter(), chars_per_token=4.0
    )
    assert off_loop == prompt_count.count_prompt(body, tokenizer=counter(), chars_per_token=4.0)
    assert off_loop.total == len(words.split()) + 1 + 2
