"""A model's own tokenizer, for counting prompt tokens as its engine will.

Built from the model's `tokenizer.json` (the `tokenizers` library, in Rust: a few hundred
microseconds for a prompt of thousands of tokens) and, when present, its `tokenizer_config.json`,
whose `chat_template` (a Jinja template) turns a chat request's messages into the text the engine
prefills, and whose `bos_token` / `eos_token` the template may print. One is loaded per model and
shared by all its requests.

A chat request is counted on the template's text with the model's special tokens left out (the
template writes them itself, as vLLM's chat endpoint does); a completion prompt is counted with
them (vLLM's completions endpoint adds them). A model without a chat template is counted on a
plain role-joining rendering, each message as `<role>: <text>` on its own line and `assistant:` at
the end: near what a template adds (a few tokens per message), and stated in the docs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.sandbox
import tokenizers

__all__ = ["ChatTurn", "ModelTokenizer", "TokenizerFilesError"]

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


class TokenizerFilesError(ValueError):
    """The tokenizer's files do not read as a tokenizer (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One message of a chat request, as a template sees it."""

    role: str
    content: str


def _raise_exception(message: str) -> None:
    # templates call it to refuse a conversation they cannot render (e.g. roles out of order)
    raise jinja2.TemplateError(message)


def _special_token(config: Mapping[str, Any], key: str) -> str:
    """`bos_token` and `eos_token` are strings, or objects with the string in `content`."""
    value = config.get(key)
    if isinstance(value, Mapping):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def _chat_template(config: Mapping[str, Any]) -> str | None:
    """The default chat template: a string, or the one named `default` of a list of named ones."""
    template = config.get("chat_template")
    if isinstance(template, str):
        return template
    if isinstance(template, list):
        named = {
            entry.get("name"): entry.get("template")
            for entry in template
            if isinstance(entry, Mapping)
        }
        chosen = named.get("default")
        if isinstance(chosen, str):
            return chosen
    return None


class ModelTokenizer:
    """Counts prompt tokens with a model's tokenizer (and chat template, when it has one)."""

    def __init__(
        self,
        tokenizer: tokenizers.Tokenizer,
        *,
        chat_template: str | None = None,
        bos_token: str = "",
        eos_token: str = "",
        source: str = "",
    ) -> None:
        self._tokenizer = tokenizer
        self._bos_token = bos_token
        self._eos_token = eos_token
        self.source = source
        """Where the tokenizer was read from (for logs and `/debug/engines`)."""
        self._template: jinja2.Template | None = None
        if chat_template is not None:
            # Sandboxed: a template comes with the model and is not trusted to touch Python.
            environment = jinja2.sandbox.ImmutableSandboxedEnvironment(
                trim_blocks=True, lstrip_blocks=True
            )
            environment.globals["raise_exception"] = _raise_exception
            try:
                self._template = environment.from_string(chat_template)
            except jinja2.TemplateError as error:
                raise TokenizerFilesError(
                    f"{TOKENIZER_CONFIG_FILE}: chat_template does not compile: {error}"
                ) from error

    @classmethod
    def from_texts(
        cls, tokenizer_json: str, tokenizer_config_json: str | None = None, *, source: str = ""
    ) -> ModelTokenizer:
        """From the contents of `tokenizer.json` and, optionally, `tokenizer_config.json`;
        raises TokenizerFilesError naming the file that does not read."""
        try:
            tokenizer = tokenizers.Tokenizer.from_str(tokenizer_json)
        except Exception as error:  # the library raises a bare Exception on a bad file
            raise TokenizerFilesError(f"{TOKENIZER_FILE} is not a tokenizer: {error}") from error
        config: Mapping[str, Any] = {}
        if tokenizer_config_json is not None:
            try:
                loaded = json.loads(tokenizer_config_json)
            except ValueError as error:
                raise TokenizerFilesError(
                    f"{TOKENIZER_CONFIG_FILE} is not JSON: {error}"
                ) from error
            if not isinstance(loaded, Mapping):
                raise TokenizerFilesError(f"{TOKENIZER_CONFIG_FILE} is not a JSON object")
            config = loaded
        return cls(
            tokenizer,
            chat_template=_chat_template(config),
            bos_token=_special_token(config, "bos_token"),
            eos_token=_special_token(config, "eos_token"),
            source=source,
        )

    @property
    def has_chat_template(self) -> bool:
        return self._template is not None

    def count_texts(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each completion prompt, special tokens included."""
        if len(texts) == 1:
            return [len(self._tokenizer.encode(texts[0], add_special_tokens=True).ids)]
        encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        return [len(encoding.ids) for encoding in encoded]

    def chat_text(self, turns: Sequence[ChatTurn]) -> str:
        """The text a chat request prefills: the template's rendering with the assistant's turn
        opened, else the role-joining fallback. Raises jinja2.TemplateError when the template
        refuses the conversation."""
        if self._template is None:
            return "".join(f"{turn.role}: {turn.content}\n" for turn in turns) + "assistant:"
        return self._template.render(
            messages=[{"role": turn.role, "content": turn.content} for turn in turns],
            add_generation_prompt=True,
            bos_token=self._bos_token,
            eos_token=self._eos_token,
        )

    def count_chat(self, turns: Sequence[ChatTurn]) -> int:
        """Tokens of a chat request's prompt (the template writes the special tokens)."""
        text = self.chat_text(turns)
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
