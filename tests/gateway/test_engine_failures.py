"""Engines that fail: before the first byte (retried elsewhere) and mid-stream (an error event
and [DONE], never a hung connection)."""

from __future__ import annotations

import httpx
import openai
import pytest
from gateway_processes import (
    KEY,
    MODEL,
    Processes,
    metric_value,
    set_fault,
    sse_payloads,
)


def test_requests_to_a_refusing_engine_are_served_by_another(procs: Processes) -> None:
    # Idle engines tie, and a tie goes to the engine whose URL sorts first: make it the bad one.
    refusing, healthy = sorted(
        [procs.engine(time_scale=0.0), procs.engine(time_scale=0.0)], key=lambda e: e.url
    )
    set_fault(refusing, mode="refuse")
    gateway = procs.gateway([refusing, healthy])
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)
    for _ in range(4):
        answer = client.completions.create(model=MODEL, prompt="x", max_tokens=3)
        assert answer.usage is not None
        assert answer.usage.completion_tokens == 3
    assert metric_value(gateway, "sloserve_requests_retried_total") >= 1
    assert metric_value(gateway, "sloserve_requests_finished_total", outcome="served") == 4


def test_an_engine_dying_mid_stream_ends_the_stream_with_an_error_and_done(
    procs: Processes,
) -> None:
    engine = procs.engine(time_scale=0.0)
    set_fault(engine, mode="die_mid_stream", after_tokens=3)
    gateway = procs.gateway([engine])
    body = {"model": MODEL, "prompt": "x", "max_tokens": 20, "stream": True}
    response = httpx.post(
        f"{gateway.url}/v1/completions",
        json=body,
        headers={"authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    payloads = sse_payloads(response.content)
    assert payloads[-1] == "[DONE]"
    assert payloads[-2]["error"]["type"] == "engine_failed"
    assert any(p != "[DONE]" and "choices" in p for p in payloads)
    assert metric_value(gateway, "sloserve_requests_finished_total", outcome="failed") == 1


def test_the_openai_sdk_raises_on_the_error_event(procs: Processes) -> None:
    engine = procs.engine(time_scale=0.0)
    set_fault(engine, mode="die_mid_stream", after_tokens=2)
    gateway = procs.gateway([engine])
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)
    stream = client.completions.create(model=MODEL, prompt="x", max_tokens=20, stream=True)
    with pytest.raises(openai.APIError, match="mid-stream"):
        for _ in stream:
            pass
