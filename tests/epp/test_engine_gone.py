"""An engine that leaves the pool between the pick and the response: the request's accounting is
closed however the response turns out, the engine takes no new work, and its ledger goes once
nothing runs on it."""

from __future__ import annotations

from typing import Any

from envoy_client import request_headers
from epp_harness import MODEL, completion, endpoint, engine_url, sse_tokens

from sloserve.gateway import datastore

LABELS = {"namespace": "", "modelservice": "", "model": MODEL, "slo_class": "standard"}
STATIC = datastore.SourceKey(namespace="", name=MODEL, static=True)


async def picked(epp: Any) -> tuple[Any, str]:
    stream = epp.stream()
    await stream.request_headers(request_headers())
    await stream.request_body(completion(stream=True), end_of_stream=True)
    routed = await stream.answer()
    await stream.body_back()
    return stream, routed.set_headers()["x-gateway-destination-endpoint"]


def url_of(chosen: str) -> str:
    return engine_url(0) if chosen == endpoint(0) else engine_url(1)


async def test_the_proxys_503_for_a_vanished_engine_fails_the_request(picker: Any) -> None:
    epp = await picker(engines=2)
    stream, chosen = await picked(epp)
    gone, staying = (
        url_of(chosen),
        next(u for u in (engine_url(0), engine_url(1)) if u != url_of(chosen)),
    )
    epp.ctx.store.put_endpoints(STATIC, "static", (staying,))
    runtime = epp.runtime()
    assert runtime.ledgers[gone].inflight == 1, "the request still counts where it runs"

    # Envoy's own answer when it cannot connect: a local reply, no served endpoint.
    await stream.response_headers(status=503, content_type="text/plain")
    assert (await stream.answer()).kind == "response_headers"
    await stream.response_body(b"upstream connect error", end_of_stream=True)
    await stream.answer()

    assert epp.metric("sloserve_requests_finished_total", **LABELS, outcome="failed") == 1
    assert gone not in runtime.ledgers
    assert epp.ctx.lifecycle.active == 0
    _, next_pick = await picked(epp)
    assert next_pick != chosen


async def test_a_vanished_engine_that_still_answers_serves_the_request(picker: Any) -> None:
    epp = await picker(engines=2)
    stream, chosen = await picked(epp)
    gone = url_of(chosen)
    epp.ctx.store.put_endpoints(
        STATIC, "static", tuple(u for u in (engine_url(0), engine_url(1)) if u != gone)
    )
    await stream.response_headers(status=200, served=chosen)
    await stream.answer()
    events = sse_tokens(2)
    for index, event in enumerate(events):
        await stream.response_body(event, end_of_stream=index == len(events) - 1)
        await stream.answer()
    assert epp.metric("sloserve_requests_finished_total", **LABELS, outcome="served") == 1
    assert gone not in epp.runtime().ledgers


async def test_an_engine_answering_5xx_is_kept_out_of_routing(picker: Any) -> None:
    epp = await picker(engines=2)
    stream, chosen = await picked(epp)
    await stream.response_headers(status=500, content_type="application/json", served=chosen)
    await stream.answer()
    await stream.response_body(b'{"error": "boom"}', end_of_stream=True)
    await stream.answer()
    runtime = epp.runtime()
    assert not runtime.ledgers[url_of(chosen)].healthy()
    assert epp.metric("sloserve_requests_finished_total", **LABELS, outcome="failed") == 1
    for _ in range(3):
        _, next_pick = await picked(epp)
        assert next_pick != chosen


async def test_an_engines_4xx_fails_the_request_but_not_the_engine(picker: Any) -> None:
    epp = await picker(engines=1)
    stream, chosen = await picked(epp)
    await stream.response_headers(status=400, content_type="application/json", served=chosen)
    await stream.answer()
    await stream.response_body(b'{"error": "too long"}', end_of_stream=True)
    await stream.answer()
    assert epp.metric("sloserve_requests_finished_total", **LABELS, outcome="failed") == 1
    assert epp.runtime().ledgers[engine_url(0)].healthy()


async def test_a_stream_without_done_fails_the_request(picker: Any) -> None:
    epp = await picker(engines=1)
    stream, _ = await picked(epp)
    await stream.response_headers(status=200)
    await stream.answer()
    await stream.response_body(sse_tokens(3)[0], end_of_stream=True)
    await stream.answer()
    assert epp.metric("sloserve_requests_finished_total", **LABELS, outcome="failed") == 1


async def test_a_request_served_elsewhere_moves_to_that_engines_ledger(picker: Any) -> None:
    epp = await picker(engines=2)
    stream, chosen = await picked(epp)
    other = endpoint(1) if chosen == endpoint(0) else endpoint(0)
    runtime = epp.runtime()
    await stream.response_headers(status=200, served=other)
    await stream.answer()
    assert runtime.ledgers[url_of(chosen)].inflight == 0
    assert runtime.ledgers[url_of(other)].inflight == 1
    events = sse_tokens(1)
    for index, event in enumerate(events):
        await stream.response_body(event, end_of_stream=index == len(events) - 1)
        await stream.answer()
    assert runtime.ledgers[url_of(other)].inflight == 0
    assert epp.metric("sloserve_requests_finished_total", **LABELS, outcome="served") == 1
