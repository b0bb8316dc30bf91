"""Streaming responses framed exactly as vLLM frames them."""

from __future__ import annotations

from server_helpers import MODEL, in_process, settings, sse_payloads


async def test_a_chat_stream_opens_with_the_role_and_closes_with_usage_and_done() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": "say three words"}],
                "max_tokens": 3,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = sse_payloads(response.text)
    assert chunks[-1] == "[DONE]"
    role, *tokens, usage, _ = chunks
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [t["choices"][0]["delta"]["content"] for t in tokens] == [" alpha", " bravo", " charlie"]
    assert [t["choices"][0]["finish_reason"] for t in tokens] == [None, None, "length"]
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "total_tokens": 6, "completion_tokens": 3}
    for chunk in chunks[:-1]:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == MODEL
        assert chunk["id"] == role["id"]
        assert chunk["id"].startswith("chatcmpl-")
        assert chunk["created"] == role["created"]


async def test_a_completion_stream_has_one_chunk_per_token_then_done() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            "/v1/completions",
            json={"model": MODEL, "prompt": "one two", "max_tokens": 4, "stream": True},
        )
    chunks = sse_payloads(response.text)
    tokens = chunks[:-1]
    assert len(tokens) == 4
    assert all(t["object"] == "text_completion" for t in tokens)
    assert all(t["id"].startswith("cmpl-") for t in tokens)
    assert "".join(t["choices"][0]["text"] for t in tokens) == " alpha bravo charlie delta"
    assert [t["choices"][0]["finish_reason"] for t in tokens] == [None, None, None, "length"]
    assert "usage" not in tokens[-1]


async def test_continuous_usage_puts_the_running_count_on_every_chunk() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            "/v1/completions",
            json={
                "model": MODEL,
                "prompt": "a b c d e",
                "max_tokens": 3,
                "stream": True,
                "stream_options": {"include_usage": True, "continuous_usage_stats": True},
            },
        )
    chunks = sse_payloads(response.text)
    assert [c["usage"]["completion_tokens"] for c in chunks[:3]] == [1, 2, 3]
    assert chunks[3]["usage"]["total_tokens"] == 8


async def test_a_stop_string_ends_the_stream_with_stop_and_its_reason() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            "/v1/completions",
            json={"model": MODEL, "prompt": "x", "max_tokens": 50, "stop": "delta", "stream": True},
        )
    tokens = sse_payloads(response.text)[:-1]
    last = tokens[-1]["choices"][0]
    assert (last["finish_reason"], last["stop_reason"]) == ("stop", "delta")
    assert "".join(t["choices"][0]["text"] for t in tokens) == " alpha bravo charlie "


async def test_the_x_request_id_header_names_the_response() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post(
            "/v1/completions",
            headers={"x-request-id": "abc123"},
            json={"model": MODEL, "prompt": "x", "max_tokens": 1},
        )
    assert response.json()["id"] == "cmpl-abc123"
