"""A request picked and served over the ext_proc stream, in Envoy's message order: the endpoint
comes back in the destination header and the `envoy.lb` metadata, the body is handed back
unchanged, and the response path closes the request's accounting."""

from __future__ import annotations

import json
from typing import Any

from envoy_client import CHAT, request_headers
from epp_harness import MODEL, completion, endpoint, engine_url, sse_tokens


async def test_a_streamed_completion_is_picked_passed_through_and_settled(picker: Any) -> None:
    epp = await picker(engines=2, tenants={"anonymous": {}})
    stream = epp.stream()
    body = completion(stream=True)
    await stream.request_headers(request_headers(extra={"x-slo-class": "interactive"}))
    await stream.request_body(body[:10], end_of_stream=False)
    await stream.request_body(body[10:], end_of_stream=True)

    routed = await stream.answer()
    assert routed.kind == "request_headers"
    picked = routed.set_headers()["x-gateway-destination-endpoint"]
    assert picked in {endpoint(0), endpoint(1)}
    assert routed.common().clear_route_cache
    assert routed.dynamic_metadata() == {"envoy.lb": {"x-gateway-destination-endpoint": picked}}
    assert await stream.body_back() == body

    runtime = epp.runtime()
    picked_url = next(url for url in runtime.ledgers if url.endswith(picked.split(":")[1]))
    assert runtime.ledgers[picked_url].inflight == 1

    await stream.response_headers(status=200, served=picked)
    headers = await stream.answer()
    assert headers.kind == "response_headers"
    assert headers.set_headers()["x-slo-class"] == "interactive"
    assert headers.set_headers()["x-request-id"].startswith("req-")
    events = sse_tokens(4)
    for index, event in enumerate(events):
        await stream.response_body(event, end_of_stream=index == len(events) - 1)
        passed = await stream.answer()
        assert passed.streamed_body() == (event, index == len(events) - 1)
    assert await stream.ended() is not None

    labels = {"namespace": "", "modelservice": "", "model": MODEL, "slo_class": "interactive"}
    assert epp.metric("sloserve_requests_total", **labels) == 1
    assert epp.metric("sloserve_requests_admitted_total", **labels) == 1
    assert epp.metric("sloserve_requests_finished_total", **labels, outcome="served") == 1
    assert epp.metric("sloserve_requests_attained_total", **labels) == 1
    assert epp.metric("sloserve_output_tokens_total", **labels) == 4
    assert epp.metric("sloserve_ttft_seconds_count", **labels) == 1
    assert runtime.ledgers[picked_url].inflight == 0
    assert not runtime.scheduler.holds(headers.set_headers()["x-request-id"])
    assert epp.ctx.lifecycle.active == 0


async def test_a_buffered_body_gets_the_endpoint_in_its_answer(picker: Any) -> None:
    epp = await picker(engines=1, protocol={"request_body_mode": "buffered"})
    stream = epp.stream()
    await stream.request_headers(request_headers())
    let_through = await stream.answer()
    assert let_through.kind == "request_headers"
    assert "x-gateway-destination-endpoint" not in let_through.set_headers()
    await stream.request_body(completion(), end_of_stream=True)
    routed = await stream.answer()
    assert routed.kind == "request_body"
    assert routed.set_headers()["x-gateway-destination-endpoint"] == endpoint(0)
    assert routed.dynamic_metadata()["envoy.lb"]["x-gateway-destination-endpoint"] == endpoint(0)


async def test_the_mode_a_proxy_announces_wins_over_the_configured_one(picker: Any) -> None:
    epp = await picker(engines=1)
    stream = epp.stream()
    await stream.request_headers(
        request_headers(), request_body_mode="BUFFERED", response_body_mode="BUFFERED"
    )
    assert (await stream.answer()).kind == "request_headers"
    await stream.request_body(completion(), end_of_stream=True)
    assert (await stream.answer()).kind == "request_body"
    await stream.response_headers(status=200, content_type="application/json")
    await stream.answer()
    whole = {"choices": [{"text": "abc"}], "usage": {"completion_tokens": 3}}
    await stream.response_body(json.dumps(whole).encode(), end_of_stream=True)
    answer = await stream.answer()
    assert answer.kind == "response_body"
    assert not answer.common() or not answer.common().HasField("body_mutation")
    labels = {"namespace": "", "modelservice": "", "model": MODEL, "slo_class": "standard"}
    assert epp.metric("sloserve_requests_finished_total", **labels, outcome="served") == 1
    assert epp.metric("sloserve_output_tokens_total", **labels) == 3


async def test_request_trailers_end_the_body_and_are_answered_after_it(picker: Any) -> None:
    epp = await picker(engines=1)
    stream = epp.stream()
    chat = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    await stream.request_headers(request_headers(path=CHAT))
    await stream.request_body(chat.encode(), end_of_stream=False)
    await stream.request_trailers()
    assert (await stream.answer()).kind == "request_headers"
    body = await stream.answer()
    assert body.streamed_body() == (chat.encode(), False)
    assert (await stream.answer()).kind == "request_trailers"


async def test_a_large_body_is_handed_back_in_chunks_under_64_kib(picker: Any) -> None:
    epp = await picker(engines=1, defaultClass="batch")
    stream = epp.stream()
    body = completion(prompt="x" * 150_000)
    await stream.request_headers(request_headers())
    await stream.request_body(body, end_of_stream=True)
    await stream.answer()
    pieces = []
    while True:
        chunk, last = (await stream.answer()).streamed_body()
        pieces.append(chunk)
        if last:
            break
    assert b"".join(pieces) == body
    assert len(pieces) == 3
    assert all(len(piece) <= 62_000 for piece in pieces)


async def test_a_whole_answer_is_settled_with_its_usage(picker: Any) -> None:
    epp = await picker(engines=1)
    stream = epp.stream()
    await stream.request_headers(request_headers())
    await stream.request_body(completion(), end_of_stream=True)
    await stream.answer()
    await stream.answer()
    await stream.response_headers(status=200, content_type="application/json")
    await stream.answer()
    whole = json.dumps({"choices": [{"text": "abcde"}], "usage": {"completion_tokens": 5}})
    await stream.response_body(whole.encode()[:7], end_of_stream=False)
    await stream.answer()
    await stream.response_body(whole.encode()[7:], end_of_stream=True)
    await stream.answer()
    labels = {"namespace": "", "modelservice": "", "model": MODEL, "slo_class": "standard"}
    assert epp.metric("sloserve_requests_finished_total", **labels, outcome="served") == 1
    assert epp.metric("sloserve_output_tokens_total", **labels) == 5
    assert epp.metric("sloserve_requests_attained_total", **labels) == 1


async def test_a_request_without_a_body_goes_to_the_least_busy_engine_unscheduled(
    picker: Any,
) -> None:
    epp = await picker(engines=2)
    busy = epp.stream()
    await busy.request_headers(request_headers())
    await busy.request_body(completion(), end_of_stream=True)
    busy_endpoint = (await busy.answer()).set_headers()["x-gateway-destination-endpoint"]

    models = epp.stream()
    await models.request_headers(
        request_headers(method="GET", path="/v1/models"), end_of_stream=True
    )
    routed = await models.answer()
    assert routed.kind == "request_headers"
    assert routed.set_headers()["x-gateway-destination-endpoint"] != busy_endpoint
    await models.response_headers(status=200, content_type="application/json", end_of_stream=True)
    assert (await models.answer()).kind == "response_headers"
    assert (
        epp.metric(
            "sloserve_requests_total",
            namespace="",
            modelservice="",
            model=MODEL,
            slo_class="standard",
        )
        == 1
    )


async def test_the_api_key_is_kept_from_the_engines_once_the_picker_checks_it(
    picker: Any,
) -> None:
    epp = await picker(engines=1, tenants={"tenants": [{"name": "team", "keys": ["k1"]}]})
    stream = epp.stream()
    await stream.request_headers(request_headers(extra={"authorization": "Bearer k1"}))
    await stream.request_body(completion(), end_of_stream=True)
    routed = await stream.answer()
    assert routed.removed_headers() == ["authorization"]
    assert routed.set_headers()["x-gateway-destination-endpoint"] == endpoint(0)
    assert engine_url(0) in epp.runtime().ledgers


async def test_without_the_response_body_the_response_headers_settle_the_request(
    picker: Any,
) -> None:
    epp = await picker(engines=1, protocol={"response_body_mode": "none"})
    stream = epp.stream()
    await stream.request_headers(request_headers())
    await stream.request_body(completion(), end_of_stream=True)
    await stream.answer()
    await stream.body_back()
    await stream.response_headers(status=200, content_type="application/json")
    await stream.answer()
    labels = {"namespace": "", "modelservice": "", "model": MODEL, "slo_class": "standard"}
    assert epp.metric("sloserve_requests_finished_total", **labels, outcome="served") == 1
    assert epp.ctx.lifecycle.active == 0
