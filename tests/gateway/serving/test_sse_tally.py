"""Token timing from the engine's server-sent events as they pass through."""

from __future__ import annotations

import json

from sloserve.gateway.serving import sse


def chat_chunk(content: str | None, *, role: str | None = None) -> bytes:
    delta: dict[str, str] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    body = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_the_role_chunk_is_not_a_token_and_text_chunks_are() -> None:
    tally = sse.StreamTally()
    tally.feed(chat_chunk("", role="assistant"), now_s=1.0)
    tally.feed(chat_chunk("Hel"), now_s=1.5)
    tally.feed(chat_chunk("lo"), now_s=1.6)
    tally.feed(sse.DONE_EVENT, now_s=1.7)
    assert (tally.first_token_s, tally.last_token_s, tally.tokens) == (1.5, 1.6, 2)
    assert tally.done


def test_events_split_across_network_chunks_are_reassembled() -> None:
    stream = chat_chunk("a") + chat_chunk("b") + sse.DONE_EVENT
    tally = sse.StreamTally()
    for index in range(0, len(stream), 7):
        tally.feed(stream[index : index + 7], now_s=float(index))
    assert tally.token_events == 2
    assert tally.done


def test_the_usage_chunk_gives_the_exact_token_count() -> None:
    usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 9}}
    tally = sse.StreamTally()
    tally.feed(chat_chunk("abc"), now_s=0.0)
    tally.feed(b"data: " + json.dumps(usage).encode() + b"\n\n", now_s=0.1)
    assert (tally.token_events, tally.tokens) == (1, 9)


def test_completions_text_counts_and_a_stream_without_done_is_not_done() -> None:
    body = {"object": "text_completion", "choices": [{"index": 0, "text": "x"}]}
    tally = sse.StreamTally()
    tally.feed(b"data: " + json.dumps(body).encode() + b"\n\n", now_s=2.0)
    assert tally.first_token_s == 2.0
    assert not tally.done


def test_the_error_event_is_an_openai_error_body() -> None:
    event = sse.error_event(message="engine died", error_type="engine_failed", code=502)
    assert event.startswith(b"data: ")
    assert event.endswith(b"\n\n")
    assert json.loads(event[len(b"data: ") :])["error"]["message"] == "engine died"


def test_field_names_inside_generated_text_do_not_count_twice() -> None:
    tally = sse.StreamTally()
    tally.feed(chat_chunk('he wrote "text": "" and "content": ""'), now_s=0.0)
    assert tally.token_events == 1


def test_spaced_json_from_other_servers_is_read_too() -> None:
    event = b'data: {"choices": [{"index": 0, "text": "x"}], "usage": {"completion_tokens": 4}}\n\n'
    tally = sse.StreamTally()
    tally.feed(event, now_s=0.0)
    assert (tally.token_events, tally.tokens) == (1, 4)
