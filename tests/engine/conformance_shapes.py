"""What the conformance test compares of an answer: its shape, not its generated text.

Each function reduces a response to the parts a client, the gateway or the report depends on
(status, error type and field, which keys a body has, how a stream is framed, how many tokens it
reports), as plain JSON-able values, so that two servers' answers compare with `==`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

DONE = b"data: [DONE]"


def error_shape(response: httpx.Response) -> dict[str, Any]:
    """Status and the OpenAI error object's type, param and code (the message is free text)."""
    shape: dict[str, Any] = {
        "status": response.status_code,
        "content_type": media_type(response),
    }
    try:
        body = response.json()
    except ValueError:
        return shape | {"body": "not JSON"}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return shape | {
            "body_keys": sorted(body) if isinstance(body, dict) else type(body).__name__
        }
    return shape | {
        "type": error.get("type"),
        "param": error.get("param"),
        "code": error.get("code"),
        "has_message": bool(error.get("message")),
    }


def media_type(response: httpx.Response) -> str | None:
    content_type = response.headers.get("content-type")
    return content_type.split(";")[0].strip() if content_type else None


def key_tree(value: Any) -> Any:
    """The keys of a JSON value at every level (lists by their first element), values dropped."""
    if isinstance(value, dict):
        return {key: key_tree(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [key_tree(value[0])] if value else []
    return None


def body_shape(response: httpx.Response) -> dict[str, Any]:
    """A finished generation's status, key tree, object, finish reason and token accounting."""
    body = response.json()
    choice = body["choices"][0]
    usage = body["usage"]
    return {
        "status": response.status_code,
        "content_type": media_type(response),
        "keys": key_tree(body),
        "object": body["object"],
        "id_prefix": body["id"].split("-")[0],
        "finish_reason": choice["finish_reason"],
        "completion_tokens": usage["completion_tokens"],
        "total_is_prompt_plus_completion": usage["total_tokens"]
        == usage["prompt_tokens"] + usage["completion_tokens"],
    }


def events(raw: bytes) -> list[bytes]:
    """The events of an SSE body, each without its closing blank line; raises AssertionError
    when the body does not end with a complete event."""
    assert raw.endswith(b"\n\n"), "the stream must end with a complete event"
    return raw[: -len(b"\n\n")].split(b"\n\n")


def stream_shape(response: httpx.Response, raw: bytes) -> dict[str, Any]:
    """How a stream is framed and what its chunks carry: every event `data: <compact JSON>`,
    `[DONE]` last, the opening chunk, the chunk with the finish reason, the usage chunk."""
    framed = events(raw)
    payloads = [event.removeprefix(b"data: ") for event in framed]
    chunks = [json.loads(payload) for payload in payloads if payload != b"[DONE]"]
    compact = all(
        payload == b"[DONE]"
        or payload == json.dumps(json.loads(payload), separators=(",", ":")).encode()
        for payload in payloads
    )
    with_choices = [chunk for chunk in chunks if chunk["choices"]]
    finishing = [c for c in with_choices if c["choices"][0].get("finish_reason") is not None]
    usage_chunks = [chunk for chunk in chunks if not chunk["choices"]]
    shape: dict[str, Any] = {
        "status": response.status_code,
        "content_type": media_type(response),
        "every_event_is_data": all(event.startswith(b"data: ") for event in framed),
        "payloads_are_compact_json": compact,
        "done_is_last_and_only_once": payloads[-1] == b"[DONE]" and payloads.count(b"[DONE]") == 1,
        "objects": sorted({chunk["object"] for chunk in chunks}),
        "one_id": len({chunk["id"] for chunk in chunks}) == 1,
        # vLLM puts several tokens in one chunk when its API server falls behind the engine, so
        # a short stream's first chunk may be its last, which alone has system_fingerprint; that
        # key is compared on the finishing chunk
        "first_chunk": key_tree(
            {k: v for k, v in with_choices[0].items() if k != "system_fingerprint"}
        ),
        "first_delta": with_choices[0]["choices"][0].get("delta"),
        "finish_chunks": len(finishing),
        "finish_chunk": key_tree(finishing[-1]) if finishing else None,
        "finish_is_last_with_choices": bool(finishing) and finishing[-1] is with_choices[-1],
        "finish_reason": finishing[-1]["choices"][0]["finish_reason"] if finishing else None,
        "usage_chunks": [key_tree(chunk) for chunk in usage_chunks],
        "usage_chunk_is_last": not usage_chunks or chunks[-1] is usage_chunks[-1],
    }
    if usage_chunks:
        usage = usage_chunks[-1]["usage"]
        shape["usage_completion_tokens"] = usage["completion_tokens"]
        shape["usage_total_is_sum"] = (
            usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        )
    with_usage = [chunk for chunk in with_choices if "usage" in chunk]
    shape["chunks_with_choices_and_usage"] = (
        "all" if len(with_usage) == len(with_choices) else "none" if not with_usage else "some"
    )
    return shape
