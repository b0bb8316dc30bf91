"""Refusals are immediate responses with the gateway's status, OpenAI-shaped JSON body and
headers: the request goes nowhere and the stream ends."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from envoy_client import CHAT, request_headers
from epp_harness import MODEL, completion

from sloserve.gateway import datastore

OPEN = {"anonymous": {}}
# Far more prompt than the synthetic profile prefills within an interactive 500 ms.
LONG_PROMPT = "word " * 200_000
LABELS = {"namespace": "", "modelservice": "", "model": MODEL}


async def refused(epp: Any, body: bytes, **headers: str) -> Any:
    stream = epp.stream()
    await stream.request_headers(request_headers(extra=headers))
    await stream.request_body(body, end_of_stream=True)
    answer = await stream.answer()
    assert answer.kind == "immediate_response"
    assert answer.set_headers()["content-type"] == "application/json"
    await stream.ended()
    return answer


async def test_an_unattainable_ttft_is_429_with_the_gateways_body_and_retry_after(
    picker: Any,
) -> None:
    epp = await picker(tenants=OPEN)
    answer = await refused(
        epp, completion(prompt=LONG_PROMPT), **{"x-gateway-inference-objective": "interactive"}
    )
    assert answer.status == 429
    error = json.loads(answer.body)["error"]
    assert error["code"] == "ttft_unattainable"
    assert error["type"] == "slo_rejected"
    assert error["slo_class"] == "interactive"
    assert error["predicted_ttft_ms"] > error["ttft_target_ms"] == 500.0
    assert int(answer.set_headers()["Retry-After"]) >= 1
    assert all(ledger.inflight == 0 for ledger in epp.runtime().ledgers.values())
    rejected = epp.metric(
        "sloserve_requests_rejected_total",
        **LABELS,
        slo_class="interactive",
        reason="ttft_unattainable",
    )
    assert rejected == 1
    assert epp.ctx.lifecycle.active == 0


async def test_the_same_prompt_in_a_looser_class_is_picked(picker: Any) -> None:
    epp = await picker(tenants=OPEN)
    stream = epp.stream()
    await stream.request_headers(request_headers(extra={"x-slo-ttft-ms": "15000"}))
    await stream.request_body(completion(prompt=LONG_PROMPT), end_of_stream=True)
    routed = await stream.answer()
    assert routed.kind == "request_headers"
    assert epp.metric("sloserve_requests_admitted_total", **LABELS, slo_class="batch") == 1


async def test_a_malformed_body_is_400_naming_the_field(picker: Any) -> None:
    epp = await picker()
    answer = await refused(epp, json.dumps({"model": MODEL, "prompt": 42}).encode())
    assert answer.status == 400
    error = json.loads(answer.body)["error"]
    assert error["param"] == "prompt"
    assert error["type"] == "invalid_request_error"


async def test_a_body_that_is_not_json_is_400(picker: Any) -> None:
    epp = await picker()
    stream = epp.stream()
    await stream.request_headers(request_headers(path=CHAT))
    await stream.request_body(b'{"model": "test-mo', end_of_stream=False)
    await stream.request_body(b"", end_of_stream=True)
    answer = await stream.answer()
    assert answer.status == 400
    assert "not valid JSON" in json.loads(answer.body)["error"]["message"]


async def test_an_unknown_model_is_404_listing_the_models_served(picker: Any) -> None:
    epp = await picker()
    answer = await refused(epp, json.dumps({"model": "nope", "prompt": "hi"}).encode())
    assert answer.status == 404
    error = json.loads(answer.body)["error"]
    assert error["code"] == "model_not_found"
    assert MODEL in error["message"]


async def test_a_class_the_tenant_may_not_use_is_403_and_counted(picker: Any) -> None:
    tenants = {"tenants": [{"name": "team", "keys": ["k"], "allowedClasses": ["batch"]}]}
    epp = await picker(tenants=tenants)
    answer = await refused(
        epp, completion(), authorization="Bearer k", **{"x-slo-class": "interactive"}
    )
    assert answer.status == 403
    assert json.loads(answer.body)["error"]["code"] == "forbidden_class"
    rejected = epp.metric(
        "sloserve_requests_rejected_total",
        **LABELS,
        slo_class="interactive",
        reason="forbidden_class",
    )
    assert rejected == 1


async def test_a_missing_key_is_401_when_keys_are_configured(picker: Any) -> None:
    epp = await picker(tenants={"tenants": [{"name": "team", "keys": ["k"]}]})
    answer = await refused(epp, completion())
    assert answer.status == 401
    assert answer.set_headers()["WWW-Authenticate"] == "Bearer"


async def test_a_trusted_fairness_id_names_the_tenant_and_its_default_class(
    picker: Any,
) -> None:
    tenants = {
        "tenants": [{"name": "team-a", "allowedClasses": ["batch"], "defaultClass": "batch"}]
    }
    epp = await picker(tenants=tenants, protocol={"trust_fairness_id": True})
    stream = epp.stream()
    await stream.request_headers(
        request_headers(extra={"x-gateway-inference-fairness-id": "team-a"})
    )
    await stream.request_body(completion(), end_of_stream=True)
    assert (await stream.answer()).kind == "request_headers"
    assert epp.metric("sloserve_requests_admitted_total", **LABELS, slo_class="batch") == 1

    unknown = await refused(epp, completion(), **{"x-gateway-inference-fairness-id": "team-z"})
    assert unknown.status == 401
    assert "team-z" in json.loads(unknown.body)["error"]["message"]


async def test_an_untrusted_fairness_id_does_not_choose_the_tenant(picker: Any) -> None:
    tenants = {"tenants": [{"name": "team-a", "keys": ["k"]}]}
    epp = await picker(tenants=tenants)
    answer = await refused(epp, completion(), **{"x-gateway-inference-fairness-id": "team-a"})
    assert answer.status == 401


async def test_a_model_without_engines_is_503(picker: Any) -> None:
    epp = await picker(engines=1)
    epp.ctx.store.put_endpoints(
        datastore.SourceKey(namespace="", name=MODEL, static=True), "static", ()
    )
    answer = await refused(epp, completion())
    assert answer.status == 503
    assert json.loads(answer.body)["error"]["code"] == "no_engines"


async def test_a_draining_picker_answers_503_draining(picker: Any) -> None:
    epp = await picker()
    epp.ctx.lifecycle.begin_drain()
    answer = await refused(epp, completion())
    assert answer.status == 503
    assert json.loads(answer.body)["error"]["code"] == "draining"
    assert answer.set_headers()["Retry-After"] == "1"


async def test_a_body_over_the_limit_is_413(picker: Any) -> None:
    epp = await picker(protocol={"max_request_body_bytes": 1000})
    stream = epp.stream()
    await stream.request_headers(request_headers())
    await stream.request_body(b"x" * 600, end_of_stream=False)
    await stream.request_body(b"x" * 600, end_of_stream=False)
    answer = await stream.answer()
    assert answer.status == 413


async def test_a_proxy_that_sends_no_body_is_told_how_to_configure_it(picker: Any) -> None:
    epp = await picker()
    stream = epp.stream()
    await stream.request_headers(request_headers(), request_body_mode="NONE")
    answer = await stream.answer()
    assert answer.status == 500
    assert "FULL_DUPLEX_STREAMED" in json.loads(answer.body)["error"]["message"]


async def test_a_stream_that_does_not_begin_with_headers_is_refused(picker: Any) -> None:
    epp = await picker()
    stream = epp.stream()
    await stream.request_body(b"{}", end_of_stream=True)
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stream.answer()
    assert refusal.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "request_headers" in (refusal.value.details() or "")
