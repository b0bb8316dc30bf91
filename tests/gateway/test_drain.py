"""Shutdown drains: in-flight requests finish, new ones get 503, then the process exits."""

from __future__ import annotations

import signal
import threading

import httpx
from gateway_processes import KEY, MODEL, Processes, engine_running, sse_payloads, wait_until

HEADERS = {"authorization": f"Bearer {KEY}"}


def test_sigterm_lets_streams_finish_and_refuses_new_requests(procs: Processes) -> None:
    engine = procs.engine(time_scale=1.0)
    gateway = procs.gateway([engine], grace_period_s=20)
    body = {"model": MODEL, "prompt": "x", "max_tokens": 150, "ignore_eos": True, "stream": True}
    finished: list[bytes] = []
    streaming = threading.Thread(
        target=lambda: finished.append(
            httpx.post(
                f"{gateway.url}/v1/completions", json=body, headers=HEADERS, timeout=30
            ).content
        )
    )
    streaming.start()
    wait_until(lambda: engine_running(engine) == 1, what="the stream to start")
    gateway.process.send_signal(signal.SIGTERM)
    wait_until(
        lambda: httpx.get(f"{gateway.url}/readyz", timeout=2).status_code == 503,
        what="readiness to fail",
    )
    refused = httpx.post(
        f"{gateway.url}/v1/completions",
        json={"model": MODEL, "prompt": "x", "max_tokens": 2},
        headers=HEADERS,
        timeout=5,
    )
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "draining"
    assert refused.headers["x-request-id"].startswith("req-")
    assert refused.headers["x-slo-class"] == "standard"
    streaming.join(timeout=30)
    payloads = sse_payloads(finished[0])
    assert payloads[-1] == "[DONE]"
    assert not any(isinstance(p, dict) and "error" in p for p in payloads)
    assert gateway.process.wait(timeout=15) == 0


def test_streams_outlasting_the_grace_period_end_with_an_error_event(procs: Processes) -> None:
    engine = procs.engine(time_scale=1.0)
    gateway = procs.gateway([engine], grace_period_s=0.5)
    body = {"model": MODEL, "prompt": "x", "max_tokens": 3000, "ignore_eos": True, "stream": True}
    with httpx.stream(
        "POST", f"{gateway.url}/v1/completions", json=body, headers=HEADERS, timeout=30
    ) as response:
        chunks = response.iter_raw()
        received = next(chunks)
        gateway.process.send_signal(signal.SIGTERM)
        for chunk in chunks:
            received += chunk
    payloads = sse_payloads(received)
    assert payloads[-1] == "[DONE]"
    assert payloads[-2]["error"]["type"] == "gateway_shutdown"
    assert "grace period" in payloads[-2]["error"]["message"]
    assert gateway.process.wait(timeout=15) == 0
