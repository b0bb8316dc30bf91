"""The gateway's prefix hashing of prompts, and the prefix-aware setting reaching the
scheduler."""

from sloserve.gateway import settings
from sloserve.gateway.serving import prompt_count, prompt_prefix, schemas


def _chat(*texts: str) -> schemas.ChatCompletionRequest:
    return schemas.ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [
                {"role": "system" if index == 0 else "user", "content": text}
                for index, text in enumerate(texts)
            ],
        }
    )


def _hashes(body: schemas.ChatCompletionRequest | schemas.CompletionRequest) -> tuple[int, ...]:
    return prompt_prefix.prefix_hashes(
        body.prompt_content(),
        prompt_tokens=prompt_count.count_prompt(body, tokenizer=None, chars_per_token=4.0).total,
        block_tokens=16,
        chars_per_token=4.0,
    )


def test_chats_with_one_system_prompt_share_its_blocks_and_differ_after():
    system = "You are a careful assistant. " * 20
    first = _hashes(_chat(system, "What is the capital of France? " * 4))
    second = _hashes(_chat(system, "How do I bake bread at home? " * 4))
    shared = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        shared += 1
    # 600 characters of system prompt: nine full 64-character blocks, then the texts diverge
    assert shared >= 8
    assert first != second


def test_token_id_prompts_hash_whole_blocks_only():
    body = schemas.CompletionRequest.model_validate({"model": "m", "prompt": list(range(40))})
    assert len(_hashes(body)) == 2


def test_a_prompt_shorter_than_a_block_has_no_hash():
    assert _hashes(_chat("hi")) == ()


def test_the_prefix_settings_default_off_and_name_their_units():
    scheduling = settings.SchedulingSettings()
    assert scheduling.prefix_aware is False
    assert scheduling.prefix_block_tokens == 64
    assert settings.SchedulingSettings(prefix_aware=True).prefix_cache_tokens > 0
