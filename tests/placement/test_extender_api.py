from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from placement.placement_fakes import gpu_pod, node, opener
from sloserve.placement import extender
from sloserve.placement.settings import ExtenderSettings

HEAVY = gpu_pod("batch-prefill", kind="prefill_8192", node="busy")


def _client(pods: list[dict[str, Any]], **settings: Any) -> TestClient:
    app = extender.create_app(ExtenderSettings(**settings), open_assessor=opener(pods))
    return TestClient(app)


def _args(pod: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Pod": pod, "Nodes": {"items": nodes}}


def test_filter_refuses_the_node_whose_neighbour_would_slow_the_engine_too_much() -> None:
    pod = gpu_pod("engine-0", kind="decode_b32_c1024", limit="1.25")
    with _client([HEAVY]) as client:
        reply = client.post("/filter", json=_args(pod, [node("busy", mps=True), node("empty")]))
    body = reply.json()
    assert reply.status_code == 200
    assert [n["metadata"]["name"] for n in body["Nodes"]["items"]] == ["empty"]
    assert "maxPredictedSlowdown 1.25" in body["FailedNodes"]["busy"]
    assert "the new engine" in body["FailedNodes"]["busy"]
    assert body["Error"] == ""


def test_filter_answers_names_when_given_names() -> None:
    pod = gpu_pod("engine-0", kind="decode_b32_c1024", limit="1.25")
    with _client([HEAVY]) as client:
        reply = client.post("/filter", json={"Pod": pod, "NodeNames": ["busy", "empty"]})
    assert reply.json()["NodeNames"] == ["empty"]
    assert set(reply.json()["FailedNodes"]) == {"busy"}


def test_without_a_limit_nothing_is_filtered() -> None:
    pod = gpu_pod("engine-0", kind="decode_b32_c1024")
    with _client([HEAVY]) as client:
        reply = client.post("/filter", json=_args(pod, [node("busy"), node("empty")]))
    assert len(reply.json()["Nodes"]["items"]) == 2
    assert reply.json()["FailedNodes"] == {}


def test_the_extenders_default_limit_applies_to_pods_without_one() -> None:
    pod = gpu_pod("engine-0", kind="decode_b32_c1024")
    with _client([HEAVY], default_max_slowdown=1.5) as client:
        reply = client.post("/filter", json=_args(pod, [node("busy"), node("empty")]))
    assert set(reply.json()["FailedNodes"]) == {"busy"}


def test_prioritize_prefers_the_empty_node() -> None:
    pod = gpu_pod("engine-0", kind="decode_b32_c1024")
    with _client([HEAVY]) as client:
        reply = client.post("/prioritize", json=_args(pod, [node("busy"), node("empty")]))
    scores = {entry["Host"]: entry["Score"] for entry in reply.json()}
    assert scores["empty"] == 10
    assert 0 <= scores["busy"] < 10


def test_a_bad_limit_annotation_comes_back_as_a_protocol_error_naming_it() -> None:
    pod = gpu_pod("engine-0", kind="decode_b32_c1024", limit="fast")
    with _client([]) as client:
        reply = client.post("/filter", json=_args(pod, [node("empty")]))
    assert reply.status_code == 200
    assert "max-predicted-slowdown" in reply.json()["Error"]


def test_health_endpoint_answers() -> None:
    with _client([]) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
