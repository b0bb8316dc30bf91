"""Response bodies and SSE chunks, shaped as vLLM's OpenAI server emits them.

Streaming framing (vLLM): every chunk is `data: <compact json>\\n\\n`; a chat stream starts with a
chunk whose delta carries the role and empty content (sent with the first token), each token is a
chunk, the last token's chunk carries `finish_reason` (and vLLM's `stop_reason`), a chunk with
empty `choices` and the `usage` follows when `stream_options.include_usage` is set, and the stream
ends with `data: [DONE]\\n\\n`. Ids are `cmpl-<hex>` and `chatcmpl-<hex>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sloserve.engine import generation

DONE = "data: [DONE]\n\n"

Endpoint = Literal["completions", "chat"]


def sse(payload: dict[str, Any]) -> str:
    """One SSE event carrying `payload` as compact JSON, as vLLM frames it."""
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """vLLM's usage object (its field order)."""
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


def error_body(message: str, *, status: int, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body."""
    kinds = {400: "BadRequestError", 404: "NotFoundError", 500: "InternalServerError"}
    return {
        "error": {
            "message": message,
            "type": kinds.get(status, "InternalServerError"),
            "param": param,
            "code": status,
        }
    }


@dataclass(frozen=True, kw_only=True)
class ResponseContext:
    """What every body of one response shares."""

    endpoint: Endpoint
    response_id: str
    created: int
    model: str
    prompt_tokens: int

    def _envelope(self, obj: str) -> dict[str, Any]:
        return {"id": self.response_id, "object": obj, "created": self.created, "model": self.model}

    def full_response(self, plan: generation.OutputPlan) -> dict[str, Any]:
        """The non-streaming body of a finished request."""
        if self.endpoint == "completions":
            choice: dict[str, Any] = {
                "index": 0,
                "text": plan.text,
                "logprobs": None,
                "finish_reason": plan.finish_reason,
                "stop_reason": plan.stop_reason,
                "prompt_logprobs": None,
            }
            body = self._envelope("text_completion")
        else:
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": plan.text, "tool_calls": []},
                "logprobs": None,
                "finish_reason": plan.finish_reason,
                "stop_reason": plan.stop_reason,
            }
            body = self._envelope("chat.completion")
        body["choices"] = [choice]
        body["usage"] = usage(self.prompt_tokens, plan.num_tokens)
        return body

    def role_chunk(self) -> str | None:
        """The chunk that opens a chat stream (None for completions)."""
        if self.endpoint != "chat":
            return None
        body = self._envelope("chat.completion.chunk")
        body["choices"] = [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        ]
        return sse(body)

    def token_chunk(
        self,
        text: str,
        *,
        finish: generation.OutputPlan | None,
        continuous_usage: int | None,
    ) -> str:
        """The chunk of one token; `finish` is the plan when this is the last token;
        `continuous_usage` the completion tokens so far when usage goes on every chunk."""
        if self.endpoint == "completions":
            body = self._envelope("text_completion")
            choice: dict[str, Any] = {"index": 0, "text": text, "logprobs": None}
        else:
            body = self._envelope("chat.completion.chunk")
            choice = {"index": 0, "delta": {"content": text}, "logprobs": None}
        choice["finish_reason"] = finish.finish_reason if finish else None
        if finish is not None or self.endpoint == "completions":
            choice["stop_reason"] = finish.stop_reason if finish else None
        body["choices"] = [choice]
        if continuous_usage is not None:
            body["usage"] = usage(self.prompt_tokens, continuous_usage)
        return sse(body)

    def usage_chunk(self, completion_tokens: int) -> str:
        """The closing chunk with empty choices and the usage."""
        obj = "text_completion" if self.endpoint == "completions" else "chat.completion.chunk"
        body = self._envelope(obj)
        body["choices"] = []
        body["usage"] = usage(self.prompt_tokens, completion_tokens)
        return sse(body)

    def error_chunk(self, message: str) -> str:
        """An error inside a started stream (vLLM sends it as a data event before [DONE])."""
        return sse(error_body(message, status=500))
