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
#: What `system_fingerprint` says (vLLM: `vllm-<version>-<hash>`).
SYSTEM_FINGERPRINT = "sloserve-engine-sim"

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
        """The non-streaming body of a finished request, with every field vLLM's has (those
        the simulator has no value for are null)."""
        if self.endpoint == "completions":
            choice: dict[str, Any] = {
                "index": 0,
                "text": plan.text,
                "logprobs": None,
                "finish_reason": plan.finish_reason,
                "stop_reason": plan.stop_reason,
                "token_ids": None,
                "prompt_logprobs": None,
                "prompt_token_ids": None,
                "routed_experts": None,
            }
            body = self._envelope("text_completion")
        else:
            choice = {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": plan.text,
                    "refusal": None,
                    "annotations": None,
                    "audio": None,
                    "function_call": None,
                    "reasoning": None,
                },
                "logprobs": None,
                "finish_reason": plan.finish_reason,
                "stop_reason": plan.stop_reason,
                "token_ids": None,
                "routed_experts": None,
            }
            body = self._envelope("chat.completion")
        body["choices"] = [choice]
        body["service_tier"] = None
        body["system_fingerprint"] = SYSTEM_FINGERPRINT
        body["usage"] = usage(self.prompt_tokens, plan.num_tokens) | {
            "prompt_tokens_details": None,
            "completion_tokens_details": None,
        }
        if self.endpoint == "chat":
            body |= {"prompt_logprobs": None, "prompt_token_ids": None, "prompt_text": None}
        body |= {"kv_transfer_params": None, "ec_transfer_params": None, "metrics": None}
        return body

    def role_chunk(self, *, continuous_usage: bool) -> str | None:
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
        if continuous_usage:
            body["usage"] = self._running_usage(0)
        body |= {"prompt_token_ids": None, "prompt_text": None}
        return sse(body)

    def token_chunk(
        self,
        text: str,
        *,
        finish: generation.OutputPlan | None,
        continuous_usage: int | None,
        closes_stream: bool = False,
    ) -> str:
        """The chunk of one token; `finish` is the plan when this is the last token;
        `continuous_usage` the completion tokens so far when usage goes on every chunk;
        `closes_stream` when no usage chunk follows (vLLM then puts its fingerprint here)."""
        choice: dict[str, Any]
        if self.endpoint == "completions":
            body = self._envelope("text_completion")
            choice = {"index": 0, "text": text, "logprobs": None}
            choice["finish_reason"] = finish.finish_reason if finish else None
            choice["stop_reason"] = finish.stop_reason if finish else None
            choice |= {"prompt_token_ids": None, "token_ids": None}
        else:
            body = self._envelope("chat.completion.chunk")
            choice = {"index": 0, "delta": {"content": text}, "logprobs": None}
            choice["finish_reason"] = finish.finish_reason if finish else None
            if finish is not None:
                choice["stop_reason"] = finish.stop_reason
            choice["token_ids"] = None
        body["choices"] = [choice]
        if continuous_usage is not None:
            body["usage"] = self._running_usage(continuous_usage)
        if closes_stream:
            body["system_fingerprint"] = SYSTEM_FINGERPRINT
        return sse(body)

    def _running_usage(self, completion_tokens: int) -> dict[str, Any]:
        return usage(self.prompt_tokens, completion_tokens) | {"completion_tokens_details": None}

    def usage_chunk(self, completion_tokens: int) -> str:
        """The closing chunk with empty choices and the usage."""
        obj = "text_completion" if self.endpoint == "completions" else "chat.completion.chunk"
        body = self._envelope(obj)
        body["choices"] = []
        body["usage"] = usage(self.prompt_tokens, completion_tokens)
        body["system_fingerprint"] = SYSTEM_FINGERPRINT
        return sse(body)

    def error_chunk(self, message: str) -> str:
        """An error inside a started stream (vLLM sends it as a data event before [DONE])."""
        return sse(error_body(message, status=500))
