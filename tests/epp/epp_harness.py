"""The picker under test and what it is fed: its models file, engines whose `/metrics` an
`httpx.MockTransport` answers (the picker never sends them requests: the proxy does, and here
the test plays the proxy), and the bodies a client would send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from envoy_client import EnvoyStream

from sloserve.epp import app

MODEL = "test-model"
CLASSES = [
    {"name": "interactive", "ttft": "500ms", "tpot": "50ms"},
    {"name": "standard", "ttft": "3s", "tpot": "30ms"},
    {"name": "batch", "ttft": "15s", "tpot": "50ms"},
]


def engine_url(index: int) -> str:
    return f"http://127.0.0.1:{18001 + index}"


def endpoint(index: int) -> str:
    return f"127.0.0.1:{18001 + index}"


@dataclass
class EngineMetrics:
    """What each engine's `/metrics` says: requests running and waiting, by host:port."""

    running: dict[str, int] = field(default_factory=dict)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            # as vLLM lists its model, with the context limit the picker reads once per engine
            return httpx.Response(
                200, json={"object": "list", "data": [{"id": "m", "max_model_len": 1_000_000}]}
            )
        assert request.url.path == "/metrics", f"the picker called {request.url}"
        running = self.running.get(f"{request.url.host}:{request.url.port}", 0)
        return httpx.Response(
            200,
            text=(
                "# TYPE vllm:num_requests_running gauge\n"
                f'vllm:num_requests_running{{model_name="m"}} {running}.0\n'
                'vllm:num_requests_waiting{model_name="m"} 0.0\n'
                'vllm:kv_cache_usage_perc{model_name="m"} 0.1\n'
            ),
        )


@dataclass
class Picker:
    """A running picker and a channel to it."""

    ctx: app.EppContext
    channel: grpc.aio.Channel
    http_port: int
    grpc_port: int = 0

    def stream(self) -> EnvoyStream:
        return EnvoyStream(self.channel)

    def runtime(self) -> Any:
        found = self.ctx.runtimes.get(MODEL)
        assert found is not None
        return found

    def metric(self, name: str, **labels: str) -> float:
        value = self.ctx.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    async def until(self, condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
        """Wait for `condition`, checking each loop turn (the picker runs on this loop)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)


def completion(prompt: str = "hello there", **extra: Any) -> bytes:
    return json.dumps({"model": MODEL, "prompt": prompt, "max_tokens": 8, **extra}).encode()


def sse_tokens(count: int) -> list[bytes]:
    events = [b'data: {"choices":[{"index":0,"text":"tok"}]}\n\n' for _ in range(count)]
    usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": count}}
    events.append(b"data: " + json.dumps(usage).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events
