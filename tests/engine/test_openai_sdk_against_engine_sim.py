"""The OpenAI Python SDK against a real `sloserve engine-sim` process (acceptance)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from server_helpers import MODEL, RunningServer, engine_sim_process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    logs = tmp_path_factory.mktemp("engine-sim")
    # vLLM flags that mean nothing to a simulator must not stop it
    with engine_sim_process(
        logs, "--time-scale", "0.05", "--dtype", "bfloat16", "--enforce-eager"
    ) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0)


def test_models_lists_the_served_name(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [MODEL]


def test_a_completion_returns_exactly_max_tokens(client: openai.OpenAI) -> None:
    completion = client.completions.create(model=MODEL, prompt="one two three", max_tokens=7)
    assert completion.choices[0].finish_reason == "length"
    assert len(completion.choices[0].text.split()) == 7
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (3, 7)


def test_a_streamed_completion_delivers_every_token(client: openai.OpenAI) -> None:
    stream = client.completions.create(model=MODEL, prompt="hello", max_tokens=6, stream=True)
    chunks = list(stream)
    assert len(chunks) == 6
    assert "".join(c.choices[0].text for c in chunks).split() == [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
    ]  # fmt: skip
    assert chunks[-1].choices[0].finish_reason == "length"


def test_a_chat_completion_answers_as_the_assistant(client: openai.OpenAI) -> None:
    chat = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi there"}], max_tokens=4
    )
    message = chat.choices[0].message
    assert message.role == "assistant"
    assert message.content is not None
    assert len(message.content.split()) == 4
    assert chat.usage is not None
    assert chat.usage.completion_tokens == 4


def test_a_streamed_chat_ends_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi there"}],
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(content.split()) == 5
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "length"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 2 + 5


def test_the_metrics_carry_vllms_names(server: RunningServer, client: openai.OpenAI) -> None:
    client.completions.create(model=MODEL, prompt="x y", max_tokens=2)
    text = httpx.get(f"{server.base_url}/metrics").text
    for name in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:request_success_total",
        "vllm:num_preemptions_total",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:inter_token_latency_seconds_bucket",
        "vllm:e2e_request_latency_seconds_bucket",
        "vllm:request_queue_time_seconds_bucket",
    ):
        assert f"{name}{{" in text, name
    assert "_created" not in text


def test_ignored_vllm_flags_are_logged(server: RunningServer) -> None:
    log = server.log_text()
    assert "ignoring vLLM option --dtype bfloat16" in log
    assert "ignoring vLLM option --enforce-eager" in log


def test_a_client_that_disconnects_frees_its_request(server: RunningServer) -> None:
    body = {"model": MODEL, "prompt": "x", "max_tokens": 8000, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/v1/completions", json=body) as response:
        lines = response.iter_lines()
        received = [next(lines) for _ in range(6)]
        assert any(line.startswith("data: ") for line in received)
        assert _state(server)["num_requests_running"] == 1
    # the stream is closed; the engine must drop the request well before its 8000 tokens
    _wait_until_idle(server)
    state = _state(server)
    assert state["num_requests_running"] == 0
    assert state["kv_blocks_used"] == 0
    generated = _metric(server, "vllm:generation_tokens_total")
    assert generated < 8000


def test_a_client_that_gives_up_on_a_plain_request_frees_it(server: RunningServer) -> None:
    body = {"model": MODEL, "prompt": "x", "max_tokens": 8000}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.base_url}/v1/completions", json=body, timeout=0.5)
    _wait_until_idle(server)
    state = _state(server)
    assert (state["num_requests_running"], state["kv_blocks_used"]) == (0, 0)
    assert _metric(server, "vllm:generation_tokens_total") < 8000


def _wait_until_idle(server: RunningServer) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _state(server)["num_requests_running"]:
        time.sleep(0.05)


def _state(server: RunningServer) -> dict[str, float]:
    state: dict[str, float] = httpx.get(f"{server.base_url}/sim/state").json()
    return state


def _metric(server: RunningServer, name: str) -> float:
    for line in httpx.get(f"{server.base_url}/metrics").text.splitlines():
        if line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exposed")
