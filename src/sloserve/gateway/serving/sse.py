"""Reading an engine's server-sent events as they pass through, and writing the gateway's own.

The gateway forwards the engine's bytes untouched; `StreamTally` only watches them to time tokens:
the first event that carries generated text is the first token, and every such event counts as one
token (vLLM sends one event per step per sequence), unless the stream's usage gives the exact count.

Events are scanned, not parsed: this runs for every token of every stream, and a JSON parse per
event cost more than everything else the gateway does per token. A quote inside a JSON string is
always escaped, so the field patterns below cannot match inside generated text.
"""

from __future__ import annotations

import json
import re

DONE_EVENT = b"data: [DONE]\n\n"
_DATA_PREFIX = b"data:"
_EVENT_SEPARATOR = b"\n\n"
# A non-empty `text` (completions), `content` or `reasoning_content` (chat deltas), or tool calls.
_OUTPUT = re.compile(
    rb'"(?:text|content|reasoning_content)"\s*:\s*"(?!")|"tool_calls"\s*:\s*\[\s*\{'
)
_COMPLETION_TOKENS = re.compile(rb'"completion_tokens"\s*:\s*(\d+)')


class StreamTally:
    """Token timing of one stream. Feed it every chunk with the time it arrived (seconds)."""

    def __init__(self) -> None:
        self.first_token_s: float | None = None
        self.last_token_s: float | None = None
        self.token_events = 0
        self.usage_tokens: int | None = None
        self.done = False
        self._pending = b""

    @property
    def tokens(self) -> int:
        """Output tokens: the usage count when the engine sent one, else the token events."""
        return self.usage_tokens if self.usage_tokens is not None else self.token_events

    def feed(self, chunk: bytes, *, now_s: float) -> None:
        buffer = self._pending + chunk if self._pending else chunk
        start = 0
        while True:
            end = buffer.find(_EVENT_SEPARATOR, start)
            if end < 0:
                break
            self._on_event(buffer[start:end], now_s)
            start = end + len(_EVENT_SEPARATOR)
        self._pending = buffer[start:]

    def _on_event(self, event: bytes, now_s: float) -> None:
        for line in event.split(b"\n"):
            line = line.rstrip(b"\r")
            if not line.startswith(_DATA_PREFIX):
                continue
            payload = line[len(_DATA_PREFIX) :].strip()
            if payload == b"[DONE]":
                self.done = True
                return
            self._on_payload(payload, now_s)

    def _on_payload(self, payload: bytes, now_s: float) -> None:
        usage = _COMPLETION_TOKENS.search(payload)
        if usage is not None:
            self.usage_tokens = int(usage.group(1))
        if _OUTPUT.search(payload) is not None:
            self.token_events += 1
            if self.first_token_s is None:
                self.first_token_s = now_s
            self.last_token_s = now_s


def error_event(*, message: str, error_type: str, code: int) -> bytes:
    """An SSE event with an OpenAI-shaped error, which OpenAI SDKs raise as an APIError."""
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return b"data: " + json.dumps(body).encode() + _EVENT_SEPARATOR
