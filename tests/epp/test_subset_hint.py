"""The data plane's subset hint (`envoy.lb.subset_hint` → `x-gateway-destination-endpoint-subset`):
the picker chooses only among the endpoints it lists, and answers 503 when it lists none that can
serve."""

from __future__ import annotations

import json
from typing import Any

from envoy_client import EnvoyStream, request_headers
from epp_harness import MODEL, completion, endpoint, sse_tokens


async def pick(epp: Any, subset: Any) -> tuple[EnvoyStream, Any]:
    stream = epp.stream()
    await stream.request_headers(request_headers(), subset=subset)
    await stream.request_body(completion(stream=True), end_of_stream=True)
    return stream, await stream.answer()


async def test_only_listed_endpoints_are_picked_though_others_are_idle(picker: Any) -> None:
    epp = await picker(engines=3)
    streams = []
    for _ in range(4):
        stream, routed = await pick(epp, [endpoint(2)])
        assert routed.set_headers()["x-gateway-destination-endpoint"] == endpoint(2)
        await stream.body_back()
        streams.append(stream)
    # The lane's own runtime holds them; the model's queue is not involved.
    assert epp.runtime().scheduler.running == {}
    (lane,) = epp.ctx.lanes.lanes_of(MODEL)
    assert len(lane.scheduler.running) == 4

    stream = streams[0]
    await stream.response_headers(status=200, served=endpoint(2))
    await stream.answer()
    events = sse_tokens(2)
    for index, event in enumerate(events):
        await stream.response_body(event, end_of_stream=index == len(events) - 1)
        await stream.answer()
    assert len(lane.scheduler.running) == 3


async def test_a_hint_written_as_one_comma_separated_string_is_read(picker: Any) -> None:
    epp = await picker(engines=3)
    seen = set()
    for _ in range(4):
        _, routed = await pick(epp, f"{endpoint(0)}, {endpoint(2)}")
        seen.add(routed.set_headers()["x-gateway-destination-endpoint"])
    assert seen <= {endpoint(0), endpoint(2)}


async def test_a_hint_allowing_every_engine_uses_the_models_own_queue(picker: Any) -> None:
    epp = await picker(engines=2)
    _, routed = await pick(epp, ["127.0.0.1"])  # a bare address allows each of its ports
    assert routed.kind == "request_headers"
    assert epp.ctx.lanes.lanes_of(MODEL) == []
    assert len(epp.runtime().scheduler.running) == 1


async def test_an_empty_hint_is_503(picker: Any) -> None:
    epp = await picker(engines=2)
    _, answer = await pick(epp, [])
    assert answer.kind == "immediate_response"
    assert answer.status == 503
    assert json.loads(answer.body)["error"]["code"] == "no_engines"


async def test_a_hint_naming_no_engine_of_the_model_is_503(picker: Any) -> None:
    epp = await picker(engines=2)
    _, answer = await pick(epp, ["10.9.9.9:8000"])
    assert answer.status == 503
    labels = {"namespace": "", "modelservice": "", "model": MODEL, "slo_class": "standard"}
    assert epp.metric("sloserve_requests_rejected_total", **labels, reason="no_engines") == 1


async def test_an_unscheduled_request_honours_the_hint(picker: Any) -> None:
    epp = await picker(engines=3)
    stream = epp.stream()
    await stream.request_headers(
        request_headers(method="GET", path="/v1/models"),
        end_of_stream=True,
        subset=[endpoint(1)],
    )
    routed = await stream.answer()
    assert routed.set_headers()["x-gateway-destination-endpoint"] == endpoint(1)
