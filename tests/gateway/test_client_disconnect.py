"""A client that goes away: the engine's request is cancelled and the scheduler is told."""

from __future__ import annotations

import contextlib
import threading

import httpx
from gateway_processes import (
    HOLD,
    KEY,
    MODEL,
    RELEASE,
    Processes,
    engine_running,
    metric_value,
    set_slowdown,
    wait_until,
)

HEADERS = {"authorization": f"Bearer {KEY}"}


def test_a_client_leaving_mid_stream_cancels_the_request_at_the_engine(procs: Processes) -> None:
    engine = procs.engine(time_scale=1.0, extra=[f"--slowdown={HOLD}"])
    gateway = procs.gateway([engine])
    body = {"model": MODEL, "prompt": "x", "max_tokens": 2000, "ignore_eos": True, "stream": True}
    with httpx.stream(
        "POST", f"{gateway.url}/v1/completions", json=body, headers=HEADERS, timeout=30
    ) as response:
        chunks = response.iter_raw()
        next(chunks)
        next(chunks)
        assert engine_running(engine) == 1
    wait_until(lambda: engine_running(engine) == 0, what="the engine to drop the request")
    wait_until(
        lambda: metric_value(gateway, "sloserve_requests_finished_total", outcome="cancelled") == 1,
        what="the gateway to count the request as cancelled",
    )
    assert metric_value(gateway, "sloserve_engine_inflight_requests") == 0


def test_a_client_leaving_while_queued_leaves_the_queue_as_cancelled(procs: Processes) -> None:
    # The blocker holds the engine's only slot until the queued request has been cancelled.
    engine = procs.engine(time_scale=1.0, extra=["--max-num-seqs=1", f"--slowdown={HOLD}"])
    gateway = procs.gateway([engine], max_num_seqs=1)
    long_body = {"model": MODEL, "prompt": "x", "max_tokens": 300, "ignore_eos": True}
    blocker = threading.Thread(
        target=httpx.post,
        args=(f"{gateway.url}/v1/completions",),
        kwargs={"json": long_body, "headers": HEADERS, "timeout": 120},
    )
    blocker.start()
    wait_until(lambda: engine_running(engine) == 1, what="the blocker to start")
    queued = {"model": MODEL, "prompt": "x", "max_tokens": 5, "stream": True}
    with contextlib.suppress(httpx.ReadTimeout):
        httpx.post(f"{gateway.url}/v1/completions", json=queued, headers=HEADERS, timeout=0.5)
    wait_until(
        lambda: metric_value(gateway, "sloserve_requests_finished_total", outcome="cancelled") == 1,
        what="the queued request to be cancelled",
    )
    assert metric_value(gateway, "sloserve_queue_depth") == 0
    set_slowdown(engine, RELEASE)
    blocker.join(timeout=60)
    assert metric_value(gateway, "sloserve_requests_finished_total", outcome="served") == 1
