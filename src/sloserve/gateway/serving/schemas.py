"""Request bodies of the OpenAI endpoints, as far as the gateway must understand them.

The gateway forwards the client's body unchanged, so these models check only what scheduling needs
(model, stream, output budget, prompt) and that the shape is what an OpenAI server accepts; other
fields are allowed through for the engine to judge.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

PositiveInt = Annotated[StrictInt, Field(ge=1)]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: StrictBool | None = None


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: StrictStr
    text: StrictStr | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if self.content is None:
            return ""
        return "".join(part.text or "" for part in self.content)

    def text_length(self) -> int:
        if isinstance(self.content, str):
            return len(self.content)
        if self.content is None:
            return 0
        return sum(len(part.text or "") for part in self.content)


class _GenerationRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: Annotated[StrictStr, Field(min_length=1)]
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    max_tokens: PositiveInt | None = None
    n: PositiveInt = 1

    def output_budget(self) -> int | None:
        """The most tokens the client allows per choice, when it says."""
        return self.max_tokens

    def token_id_prompts(self) -> list[list[int]] | None:
        """The prompt's members as token ids when the client sent ids; None for text, which only
        a tokenizer counts."""
        return None


class ChatCompletionRequest(_GenerationRequest):
    """`POST /v1/chat/completions`."""

    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_completion_tokens: PositiveInt | None = None

    def output_budget(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def prompt_characters(self) -> list[int]:
        """The characters of the prompt's one member: its messages' texts."""
        return [sum(message.text_length() for message in self.messages)]

    def prompt_content(self) -> str | list[int]:
        """The messages' roles and texts in order, for prefix hashing."""
        return "".join(f"{message.role}\n{message.text()}\n" for message in self.messages)


PromptValue = StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]


class CompletionRequest(_GenerationRequest):
    """`POST /v1/completions`."""

    prompt: PromptValue

    def prompt_texts(self) -> list[str] | None:
        """The prompt's members as text (one for a plain string); None when it is token ids."""
        prompt: Any = self.prompt
        if isinstance(prompt, str):
            return [prompt]
        if prompt and isinstance(prompt[0], str):
            return list(prompt)
        return None

    def prompt_characters(self) -> list[int]:
        """The characters of each text member (none for token ids)."""
        return [len(text) for text in self.prompt_texts() or ()]

    def prompt_content(self) -> str | list[int]:
        """The prompt's text or token ids (a batch's first prompt), for prefix hashing."""
        prompt: Any = self.prompt
        if isinstance(prompt, str):
            return prompt
        if not prompt:
            return ""
        first = prompt[0]
        if isinstance(first, int):
            return list(prompt)
        return first if isinstance(first, str) else list(first)

    def token_id_prompts(self) -> list[list[int]] | None:
        prompt: Any = self.prompt
        if isinstance(prompt, str) or (prompt and isinstance(prompt[0], str)):
            return None
        if not prompt:
            # an empty list: one empty member, which the engine refuses itself
            return [[]]
        if isinstance(prompt[0], int):
            return [list(prompt)]
        return [list(ids) for ids in prompt]
