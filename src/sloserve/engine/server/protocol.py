"""Request bodies of the OpenAI-compatible endpoints, with vLLM's extra fields.

Sampling parameters (temperature, top_p, seed, ...) are accepted and have no effect: the output
is filler whose length is decided by max_tokens, min_tokens and stop conditions. Fields this
simulator cannot honour (n > 1, logprobs, echo, several prompts in one request) are refused with
a 400 that names them rather than answered wrongly. Unknown fields are kept as extras so the
server can log that it ignores them.
"""

from __future__ import annotations

from typing import ClassVar

import pydantic

from sloserve.engine import generation
from sloserve.engine.server import tokens


class UnsupportedFieldError(ValueError):
    """A request the simulator refuses; `field` names the field at fault (None where vLLM names
    none)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


class StreamOptions(pydantic.BaseModel):
    """OpenAI's stream_options (vLLM's continuous_usage_stats included)."""

    model_config = pydantic.ConfigDict(extra="allow")

    include_usage: bool = False
    continuous_usage_stats: bool = False


class GenerationRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")

    PROMPT_FIELD: ClassVar[str] = "prompt"

    model: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    min_tokens: int = 0
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False
    include_stop_str_in_output: bool = False
    priority: int = 0
    n: int = 1
    slo_tpot_ms: float | None = pydantic.Field(default=None, gt=0, allow_inf_nan=False)
    request_id: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    user: str | None = None

    def check_supported(self) -> None:
        """Raise UnsupportedFieldError for what the simulator cannot answer faithfully."""
        if self.n < 1:
            raise UnsupportedFieldError(None, f"n must be at least 1, got {self.n}.")
        if self.n != 1:
            raise UnsupportedFieldError("n", "n must be 1: the engine simulator returns one choice")

    def stop_conditions(self, max_tokens: int) -> generation.StopConditions:
        """The request's stop conditions with `max_tokens` resolved by the caller."""
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return generation.StopConditions(
            max_tokens=max_tokens,
            min_tokens=self.min_tokens,
            stop=tuple(s for s in stop if s),
            stop_token_ids=tuple(self.stop_token_ids or ()),
            include_stop_str_in_output=self.include_stop_str_in_output,
        )

    def prompt_tokens(self) -> int:
        """Tokens of the prompt; raises UnsupportedFieldError for a prompt the simulator refuses."""
        raise NotImplementedError

    def prompt_token_ids(self) -> list[int]:
        """The prompt's token ids (`tokens.token_ids` of its words), for the prefix cache; call
        after `prompt_tokens` has accepted the prompt."""
        raise NotImplementedError

    def requested_max_tokens(self) -> int | None:
        """The output limit the client asked for (None: up to max_model_len)."""
        raise NotImplementedError

    def max_tokens_field(self) -> str:
        """The field that carried the output limit, for error messages."""
        return "max_tokens"

    def ignored_fields(self) -> list[str]:
        """Fields in the body that this simulator does not know, sorted."""
        return sorted(self.model_extra or {})


class CompletionRequest(GenerationRequest):
    """POST /v1/completions."""

    prompt: str | list[int] | list[str] | list[list[int]] | None = None
    max_tokens: int | None = 16
    echo: bool = False
    logprobs: int | None = None
    suffix: str | None = None

    def check_supported(self) -> None:
        super().check_supported()
        if self.echo:
            raise UnsupportedFieldError("echo", "echo is not supported by the engine simulator")
        if self.logprobs is not None:
            raise UnsupportedFieldError(
                "logprobs", "logprobs are not supported by the engine simulator"
            )
        if self.suffix:
            raise UnsupportedFieldError("suffix", "suffix is not supported by the engine simulator")

    def requested_max_tokens(self) -> int | None:
        return self.max_tokens

    def prompt_tokens(self) -> int:
        """Tokens of the prompt (words of a text, or token ids)."""
        prompt = self.prompt
        tokens = 0
        if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int):
            if len(prompt) != 1:
                raise UnsupportedFieldError(
                    "prompt",
                    "prompt must be one text or one list of token ids: the engine simulator does "
                    "not batch prompts; send one request per prompt",
                )
            only = prompt[0]
            tokens = generation.prompt_tokens_of(only) if not isinstance(only, int) else 1
        elif isinstance(prompt, str):
            tokens = generation.count_words(prompt)
        elif prompt is not None:
            tokens = len(prompt)
        if tokens < 1:
            raise UnsupportedFieldError(
                "prompt",
                "Either prompt or prompt_embeds must be provided and non-empty. (parameter=prompt)",
            )
        return tokens

    def prompt_token_ids(self) -> list[int]:
        prompt = self.prompt
        if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int):
            only = prompt[0]
            if isinstance(only, str):
                return tokens.token_ids(only)
            return [int(token) for token in only] if isinstance(only, list) else []
        if isinstance(prompt, str):
            return tokens.token_ids(prompt)
        if prompt is None:
            return []
        return [token for token in prompt if isinstance(token, int)]


class ContentPart(pydantic.BaseModel):
    """One part of a chat message's content; only text parts are supported."""

    model_config = pydantic.ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(pydantic.BaseModel):
    """One message of a conversation."""

    model_config = pydantic.ConfigDict(extra="allow")

    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = None


class ChatCompletionRequest(GenerationRequest):
    """POST /v1/chat/completions."""

    PROMPT_FIELD: ClassVar[str] = "messages"

    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None

    def check_supported(self) -> None:
        super().check_supported()
        if self.logprobs:
            raise UnsupportedFieldError(
                "logprobs", "logprobs are not supported by the engine simulator"
            )

    def requested_max_tokens(self) -> int | None:
        """max_completion_tokens, or the older max_tokens."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens

    def max_tokens_field(self) -> str:
        if self.max_completion_tokens is not None:
            return "max_completion_tokens"
        return "max_tokens"

    def prompt_tokens(self) -> int:
        """Words of all messages' text (no chat template is applied), at least one (where a
        template's own tokens would be)."""
        if not self.messages:
            raise UnsupportedFieldError(
                None,
                "Cannot apply chat template to an empty conversation. Provide at least one "
                "message.",
            )
        total = 0
        for index, message in enumerate(self.messages):
            content = message.content
            if content is None:
                continue
            if isinstance(content, str):
                total += generation.count_words(content)
                continue
            for part_index, part in enumerate(content):
                if part.type != "text" or part.text is None:
                    raise UnsupportedFieldError(
                        f"messages[{index}].content[{part_index}].type",
                        f"content part type {part.type!r} is not supported by the engine "
                        "simulator; send text parts",
                    )
                total += generation.count_words(part.text)
        return max(total, 1)

    def prompt_token_ids(self) -> list[int]:
        """The ids of every message's words in order (no chat template), or the one template
        token of a chat without words."""
        ids: list[int] = []
        for message in self.messages:
            content = message.content
            if isinstance(content, str):
                ids.extend(tokens.token_ids(content))
            elif content is not None:
                for part in content:
                    if part.text is not None:
                        ids.extend(tokens.token_ids(part.text))
        return ids or [tokens.CHAT_TEMPLATE_TOKEN]
