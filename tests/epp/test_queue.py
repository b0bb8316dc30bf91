"""The deadline queue behind the stream: a request the engines cannot take now is held, its
stream open and unanswered, until the scheduler dispatches it; the proxy giving up takes it out
of the queue; the TTFT re-check refuses it with 429 once its deadline cannot be met."""

from __future__ import annotations

import json
from typing import Any

from envoy_client import EnvoyStream, request_headers
from epp_harness import MODEL, completion, endpoint, sse_tokens

LABELS = {"namespace": "", "modelservice": "", "model": MODEL}


async def occupy(epp: Any) -> EnvoyStream:
    """A picked request that keeps the only sequence slot of the only engine."""
    stream = epp.stream()
    await stream.request_headers(request_headers())
    await stream.request_body(completion(stream=True), end_of_stream=True)
    assert (await stream.answer()).kind == "request_headers"
    await stream.body_back()
    return stream


async def finish(stream: EnvoyStream) -> None:
    await stream.response_headers(status=200)
    await stream.answer()
    events = sse_tokens(2)
    for index, event in enumerate(events):
        await stream.response_body(event, end_of_stream=index == len(events) - 1)
        await stream.answer()


async def test_a_queued_request_is_held_on_its_stream_then_picked(picker: Any) -> None:
    epp = await picker(engines=1, maxNumSeqs=1)
    first = await occupy(epp)
    scheduler = epp.runtime().scheduler

    second = epp.stream()
    await second.request_headers(request_headers())
    await second.request_body(completion(), end_of_stream=True)
    await epp.until(lambda: scheduler.queue_length == 1, "the second request to queue")
    assert epp.metric("sloserve_requests_admitted_total", **LABELS, slo_class="standard") == 2

    await finish(first)
    routed = await second.answer()
    assert routed.kind == "request_headers"
    assert routed.set_headers()["x-gateway-destination-endpoint"] == endpoint(0)
    assert scheduler.queue_length == 0
    assert epp.metric("sloserve_queue_time_seconds_count", **LABELS, slo_class="standard") == 2
    queued_s = epp.metric("sloserve_queue_time_seconds_sum", **LABELS, slo_class="standard")
    assert queued_s > 0


async def test_a_proxy_cancelling_mid_queue_takes_the_request_out(picker: Any) -> None:
    epp = await picker(engines=1, maxNumSeqs=1)
    first = await occupy(epp)
    runtime = epp.runtime()

    second = epp.stream()
    await second.request_headers(request_headers())
    await second.request_body(completion(), end_of_stream=True)
    await epp.until(lambda: runtime.scheduler.queue_length == 1, "the second request to queue")
    second.cancel()
    await epp.until(lambda: runtime.scheduler.queue_length == 0, "the queue to empty")
    cancelled = epp.metric(
        "sloserve_requests_finished_total", **LABELS, slo_class="standard", outcome="cancelled"
    )
    assert cancelled == 1
    await epp.until(lambda: epp.ctx.lifecycle.active == 1, "the cancelled request to leave")

    await finish(first)
    served = epp.metric(
        "sloserve_requests_finished_total", **LABELS, slo_class="standard", outcome="served"
    )
    assert served == 1
    assert epp.ctx.lifecycle.active == 0


async def test_a_queued_request_whose_deadline_passes_is_refused_with_429(picker: Any) -> None:
    epp = await picker(engines=1, maxNumSeqs=1, tenants={"anonymous": {}})
    await occupy(epp)
    waiting = epp.stream()
    await waiting.request_headers(request_headers(extra={"x-slo-class": "interactive"}))
    await waiting.request_body(completion(), end_of_stream=True)
    answer = await waiting.answer(timeout_s=5.0)
    assert answer.kind == "immediate_response"
    assert answer.status == 429
    assert json.loads(answer.body)["error"]["code"] == "ttft_unattainable"
    assert int(answer.set_headers()["Retry-After"]) >= 1
    rejected = epp.metric(
        "sloserve_requests_rejected_total",
        **LABELS,
        slo_class="interactive",
        reason="ttft_unattainable",
    )
    assert rejected == 1
    assert not epp.runtime().scheduler.queued


async def test_a_proxy_cancelling_a_picked_request_mid_response_cancels_it(picker: Any) -> None:
    epp = await picker(engines=1)
    stream = await occupy(epp)
    await stream.response_headers(status=200)
    await stream.answer()
    await stream.response_body(sse_tokens(3)[0], end_of_stream=False)
    await stream.answer()
    stream.cancel()
    await epp.until(lambda: epp.ctx.lifecycle.active == 0, "the request to end")
    cancelled = epp.metric(
        "sloserve_requests_finished_total", **LABELS, slo_class="standard", outcome="cancelled"
    )
    assert cancelled == 1
    assert epp.metric("sloserve_output_tokens_total", **LABELS, slo_class="standard") == 1
    assert all(ledger.inflight == 0 for ledger in epp.runtime().ledgers.values())
