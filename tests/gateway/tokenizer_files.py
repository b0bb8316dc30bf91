"""A small tokenizer built in memory and written as a model's tokenizer files (no downloads).

Words split on whitespace, each known word one token, any other word `[UNK]`; a completion
prompt gets `<s>` in front (the post-processor), as a Llama-style tokenizer adds its BOS.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, processors

WORDS = ["[UNK]", "<s>", "</s>", "<|user|>", "<|system|>", "<|assistant|>", "hello", "world"]
#: A chat template in the shape models ship: each turn's role marker, then its text; the BOS
#: written by the template itself; an assistant marker to open the reply.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'tool' %}{{ raise_exception('no tool turns here') }}{% endif %}"
    "<|{{ message['role'] }}|> {{ message['content'] }} "
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tokenizer_json() -> str:
    vocab = {word: index for index, word in enumerate(WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # special tokens split out wherever they stand, as a model's own do
    tokenizer.add_special_tokens(["<s>", "</s>"])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", vocab["<s>"])]
    )
    return tokenizer.to_str()


def tokenizer_config_json(*, chat_template: str | None = CHAT_TEMPLATE) -> str:
    config: dict[str, object] = {"bos_token": "<s>", "eos_token": {"content": "</s>"}}
    if chat_template is not None:
        config["chat_template"] = chat_template
    return json.dumps(config)


def write_tokenizer(directory: Path, *, chat_template: str | None = CHAT_TEMPLATE) -> Path:
    """The tokenizer's files in `directory` (made if missing); returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.json").write_text(tokenizer_json())
    (directory / "tokenizer_config.json").write_text(
        tokenizer_config_json(chat_template=chat_template)
    )
    return directory
