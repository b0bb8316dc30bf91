"""An engine answered by `httpx.MockTransport`: OpenAI-shaped answers and vLLM-named metrics.

For unit tests of the gateway's HTTP surface; behaviour under real timing is tested against
`sloserve engine-sim` processes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

# The model and engine the in-process gateway tests configure (conftest.py writes them).
MODEL = "test-model"
ENGINE_URL = "http://engine-a.test"


@dataclass
class FakeEngine:
    """Every engine host at once. Records the bodies it gets and the hosts they went to;
    `status` makes generation answer with that HTTP status, on `failing_hosts` only if given."""

    status: int = 200
    failing_hosts: set[str] = field(default_factory=set)
    tokens: int = 3
    running: int = 0
    waiting: int = 0
    max_model_len: int | None = None
    metrics_down: bool = False
    seen: list[dict[str, object]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            if self.metrics_down:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(200, text=self.metrics_text())
        if request.url.path == "/v1/models":
            model: dict[str, object] = {"id": MODEL, "object": "model"}
            if self.max_model_len is not None:
                model["max_model_len"] = self.max_model_len
            return httpx.Response(200, json={"object": "list", "data": [model]})
        body = json.loads(request.content)
        self.seen.append(body)
        self.hosts.append(request.url.host)
        failing = not self.failing_hosts or request.url.host in self.failing_hosts
        if self.status != 200 and failing:
            return httpx.Response(self.status, json={"error": {"message": "engine says no"}})
        if body.get("stream"):
            return httpx.Response(
                200,
                content=_chunks(self.sse(request.url.path)),
                headers={"content-type": "text/event-stream"},
            )
        return httpx.Response(200, json=self.whole(request.url.path))

    def metrics_text(self) -> str:
        return (
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="m"}} {self.running}.0\n'
            f'vllm:num_requests_waiting{{model_name="m"}} {self.waiting}.0\n'
            'vllm:kv_cache_usage_perc{model_name="m"} 0.25\n'
        )

    def whole(self, path: str) -> dict[str, object]:
        usage = {
            "prompt_tokens": 5,
            "completion_tokens": self.tokens,
            "total_tokens": 5 + self.tokens,
        }
        if path.endswith("/chat/completions"):
            message = {"role": "assistant", "content": "x" * self.tokens}
            choice: dict[str, object] = {"index": 0, "message": message, "finish_reason": "length"}
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": "x" * self.tokens, "finish_reason": "length"}
            kind = "text_completion"
        return {
            "id": "cmpl-1",
            "object": kind,
            "created": 0,
            "model": "m",
            "choices": [choice],
            "usage": usage,
        }

    def sse(self, path: str) -> list[bytes]:
        events = []
        chat = path.endswith("/chat/completions")
        for _ in range(self.tokens):
            if chat:
                choice: dict[str, object] = {
                    "index": 0,
                    "delta": {"content": "x"},
                    "finish_reason": None,
                }
                kind = "chat.completion.chunk"
            else:
                choice = {"index": 0, "text": "x", "finish_reason": None}
                kind = "text_completion"
            chunk = {"id": "c", "object": kind, "created": 0, "model": "m", "choices": [choice]}
            events.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        return events


async def _chunks(events: list[bytes]) -> AsyncIterator[bytes]:
    # A streamed body, as a network would deliver it: given as bytes, httpx reads it at once.
    for event in events:
        yield event
