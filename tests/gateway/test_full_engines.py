"""Engines with few `max_num_seqs` slots, through real processes: a burst of non-streamed
requests fills the slots instead of being refused, and a request that full engines cannot start
in time is refused at arrival (or, under hold-then-reject, after waiting in the queue)."""

from __future__ import annotations

import concurrent.futures
import threading

import httpx
from gateway_processes import (
    KEY,
    MODEL,
    Processes,
    Server,
    engine_running,
    metric_value,
    wait_until,
)

HEADERS = {"authorization": f"Bearer {KEY}", "x-slo-class": "interactive"}


def test_a_burst_of_non_streamed_requests_fills_every_free_slot(procs: Processes) -> None:
    engines = [procs.engine(time_scale=1.0, extra=["--max-num-seqs=8"]) for _ in range(2)]
    gateway = procs.gateway(engines, max_num_seqs=8)
    body = {"model": MODEL, "prompt": "hi", "max_tokens": 20, "ignore_eos": True}

    def send(_: int) -> int:
        answer = httpx.post(f"{gateway.url}/v1/completions", json=body, headers=HEADERS, timeout=30)
        return answer.status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(send, range(16)))

    assert statuses == [200] * 16
    assert metric_value(gateway, "sloserve_requests_rejected_total") == 0


def _occupy_both_slots(procs: Processes, admission: str):
    engine = procs.engine(time_scale=1.0, extra=["--max-num-seqs=2"])
    gateway = procs.gateway([engine], max_num_seqs=2, extra=[f"--admission={admission}"])
    long = {"model": MODEL, "prompt": "x", "max_tokens": 1500, "ignore_eos": True, "stream": True}
    clients = [httpx.Client(timeout=60) for _ in range(2)]

    def stream(client: httpx.Client) -> None:
        headers = {**HEADERS, "x-slo-class": "batch"}
        try:
            with client.stream(
                "POST", f"{gateway.url}/v1/completions", json=long, headers=headers
            ) as response:
                for _ in response.iter_bytes():
                    pass
        except httpx.HTTPError:
            pass

    threads = [threading.Thread(target=stream, args=(client,), daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    wait_until(lambda: engine_running(engine) == 2, what="both slots to be taken")
    return gateway, clients


def _interactive_request_on_full_engines(
    procs: Processes, admission: str
) -> tuple[Server, httpx.Response]:
    """An interactive request sent while both engine slots are taken, and its answer."""
    gateway, clients = _occupy_both_slots(procs, admission)
    refused = httpx.post(
        f"{gateway.url}/v1/completions",
        json={"model": MODEL, "prompt": "hi", "max_tokens": 5},
        headers=HEADERS,
        timeout=30,
    )
    for client in clients:
        client.close()
    return gateway, refused


def test_full_engines_refuse_an_interactive_request_at_arrival(procs: Processes) -> None:
    gateway, refused = _interactive_request_on_full_engines(procs, "at-arrival")

    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "ttft_unattainable"
    # the prediction includes the wait for a slot, not only the prefill
    assert error["predicted_ttft_ms"] > 500
    labels = {"slo_class": "interactive"}
    assert metric_value(gateway, "sloserve_requests_admitted_total", **labels) == 0
    assert metric_value(gateway, "sloserve_requests_rejected_after_admission_total") == 0


def test_hold_then_reject_admits_it_and_refuses_it_from_the_queue(procs: Processes) -> None:
    gateway, refused = _interactive_request_on_full_engines(procs, "hold-then-reject")

    assert refused.status_code == 429
    labels = {"slo_class": "interactive"}
    assert metric_value(gateway, "sloserve_requests_admitted_total", **labels) == 1
    assert metric_value(gateway, "sloserve_requests_rejected_after_admission_total", **labels) == 1
