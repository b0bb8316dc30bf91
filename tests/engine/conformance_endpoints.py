"""The other endpoints the conformance test compares: models, health, version, tokenize, the
metrics the gateway and the report read, and cancellation when a client disconnects."""

from __future__ import annotations

import socket
import time
import urllib.parse
from typing import Any

import httpx
from conformance_requests import CHAT, COMPLETIONS, HELLO, MAX_MODEL_LEN, Behaviour
from conformance_shapes import error_shape, key_tree, media_type
from prometheus_client import parser

from sloserve.gateway import engine_metrics
from sloserve.report import metric_names

#: Read by the gateway (engine_metrics) and the report (metric_names), and documented for
#: engine-sim in docs/engine-sim.md.
COMPARED_METRICS = (
    engine_metrics.RUNNING,
    engine_metrics.WAITING,
    engine_metrics.KV_CACHE_USAGE,
    engine_metrics.CACHE_CONFIG,
    metric_names.VLLM_RUNNING,
    metric_names.VLLM_WAITING,
    metric_names.VLLM_KV_CACHE_USAGE,
    "vllm:prompt_tokens",
    "vllm:generation_tokens",
    "vllm:request_success",
    "vllm:num_preemptions",
    "vllm:prefix_cache_queries",
    "vllm:prefix_cache_hits",
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:e2e_request_latency_seconds",
    "vllm:request_queue_time_seconds",
)
#: The labels of vllm:cache_config_info that the gateway reads.
CACHE_CONFIG_LABELS = ("num_gpu_blocks", "block_size")
_DRAINED_WITHIN_S = 10.0


def _families(client: httpx.Client) -> dict[str, Any]:
    text = client.get("/metrics").text
    return {family.name: family for family in parser.text_string_to_metric_families(text)}


def _metric_shape(client: httpx.Client, name: str) -> Any:
    """The family's type, its label names, its histogram buckets (if any)."""
    family = _families(client).get(name)
    if family is None:
        return "absent"
    labels = sorted({label for s in family.samples for label in s.labels if label != "le"})
    shape: dict[str, Any] = {"type": family.type, "labels": labels}
    if name == engine_metrics.CACHE_CONFIG:
        shape["labels"] = sorted(set(labels) & {"engine", "model_name", *CACHE_CONFIG_LABELS})
    buckets = sorted({float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")})
    if buckets:
        shape["buckets"] = buckets
    if name == "vllm:request_success":
        shape["finished_reasons"] = sorted({s.labels["finished_reason"] for s in family.samples})
    return shape


def _gateway_reading(client: httpx.Client, model: str) -> dict[str, Any]:
    """What the gateway's own parser makes of the page: which of its fields have values."""
    load = engine_metrics.parse_engine_metrics(client.get("/metrics").text)
    return {
        "running_is_int": isinstance(load.running, int),
        "waiting_is_int": isinstance(load.waiting, int),
        "kv_cache_usage_known": load.kv_cache_usage is not None,
        "kv_capacity_known": load.kv_capacity_tokens is not None,
    }


def _load(client: httpx.Client) -> tuple[float, float]:
    load = engine_metrics.parse_engine_metrics(client.get("/metrics").text)
    return load.running, load.waiting


def _finished(client: httpx.Client) -> float:
    family = _families(client)["vllm:request_success"]
    return sum(s.value for s in family.samples if s.name.endswith("_total"))


def _drained(client: httpx.Client) -> bool:
    deadline = time.monotonic() + _DRAINED_WITHIN_S
    while time.monotonic() < deadline:
        if _load(client) == (0, 0):
            return True
        time.sleep(0.05)
    return False


def _long_request(model: str, *, stream: bool) -> dict[str, Any]:
    return {
        "model": model,
        "messages": HELLO,
        "max_tokens": MAX_MODEL_LEN - 64,
        "ignore_eos": True,
        "stream": stream,
    }


def _stream_cancelled(client: httpx.Client, model: str) -> dict[str, Any]:
    """Read the first event of a long stream, hang up, and see the engine drop the request."""
    before = _finished(client)
    with client.stream("POST", CHAT, json=_long_request(model, stream=True)) as response:
        # the iterator is kept: dropping it would close the stream before the engine is asked
        chunks = response.iter_raw()
        first = next(chunks)
        running_while_streaming = _load(client)[0]
    return {
        "first_event_is_data": first.startswith(b"data: "),
        "running_while_streaming": running_while_streaming,
        "drained_after_disconnect": _drained(client),
        "aborted_request_not_counted_as_finished": _finished(client) == before,
    }


def _request_cancelled(client: httpx.Client, model: str) -> dict[str, Any]:
    """Send a long non-streaming request on a raw socket and close it before the answer."""
    url = urllib.parse.urlsplit(str(client.base_url))
    body = httpx.Request("POST", "http://x", json=_long_request(model, stream=False)).content
    head = (
        f"POST {CHAT} HTTP/1.1\r\n"
        f"Host: {url.hostname}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((url.hostname or "", url.port or 80), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        deadline = time.monotonic() + 10
        while _load(client)[0] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        running = _load(client)[0]
    # Whether the request then counts as finished is not compared: vLLM 0.32 either aborts it
    # or runs it to its end and counts a success, by whether its disconnect listener wins the
    # race with the generation (both seen on the same build); the drain is what callers rely on.
    return {
        "running_before_disconnect": running,
        "drained_after_disconnect": _drained(client),
    }


def _tokenize(client: httpx.Client, body: dict[str, Any]) -> Any:
    response = client.post("/tokenize", json=body)
    if response.status_code != 200:
        return error_shape(response)
    answer = response.json()
    return {
        "status": response.status_code,
        "keys": key_tree(answer),
        "count_is_len_tokens": answer["count"] == len(answer["tokens"]),
        "max_model_len": answer["max_model_len"],
        "token_strs": None
        if answer["token_strs"] is None
        else len(answer["token_strs"]) == answer["count"],
    }


def _models(client: httpx.Client, model: str) -> Any:
    answer = client.get("/v1/models").json()
    entry = answer["data"][0]
    return {
        "keys": key_tree(answer),
        "object": answer["object"],
        "ids": [item["id"] for item in answer["data"]],
        "entry_object": entry["object"],
        "owned_by": entry["owned_by"],
        "max_model_len": entry["max_model_len"],
    }


def _health(client: httpx.Client, model: str) -> Any:
    response = client.get("/health")
    return {"status": response.status_code, "body": response.text, "type": media_type(response)}


def _tokenized_prompt_matches_usage(client: httpx.Client, model: str) -> bool:
    counted = client.post("/tokenize", json={"model": model, "prompt": "hello world"}).json()
    used = client.post(
        COMPLETIONS, json={"model": model, "prompt": "hello world", "max_tokens": 1}
    ).json()
    return bool(counted["count"] == used["usage"]["prompt_tokens"])


ENDPOINTS: dict[str, Behaviour] = {
    "/v1/models": _models,
    "/health": _health,
    "/version": lambda c, m: key_tree(c.get("/version").json()),
    "/tokenize a prompt": lambda c, m: _tokenize(c, {"model": m, "prompt": "hello world"}),
    "/tokenize messages": lambda c, m: _tokenize(c, {"model": m, "messages": HELLO}),
    "/tokenize with token strings": lambda c, m: _tokenize(
        c, {"model": m, "prompt": "hello world", "return_token_strs": True}
    ),
    "/tokenize an unknown model": lambda c, m: _tokenize(c, {"model": "no-such", "prompt": "x"}),
    "/tokenize counts what a request is charged": _tokenized_prompt_matches_usage,
    "/detokenize": lambda c, m: key_tree(
        c.post("/detokenize", json={"model": m, "tokens": [5, 6, 7]}).json()
    ),
    "/metrics read by the gateway's parser": _gateway_reading,
    **{
        f"/metrics {name}": (lambda c, m, name=name: _metric_shape(c, name))
        for name in dict.fromkeys(COMPARED_METRICS)
    },
    "cancellation when a stream's client disconnects": _stream_cancelled,
    "cancellation when a waiting client disconnects": _request_cancelled,
}
