"""The requests the conformance test sends to both servers, each named by the behaviour it shows.

Every behaviour is a function of an `httpx.Client` on one server and the served model name that
returns what `conformance_shapes` keeps of the answer. Prompts are token ids where a count
matters (the two servers tokenize text differently: that difference is compared on its own).
The output is forced to its limit with `ignore_eos` and greedy sampling, so that both servers
generate exactly `max_tokens` tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from conformance_shapes import body_shape, error_shape, stream_shape

COMPLETIONS = "/v1/completions"
CHAT = "/v1/chat/completions"
#: Must be the servers' --max-model-len.
MAX_MODEL_LEN = 1024
OVER_LENGTH_TEXT = " ".join(["word"] * (3 * MAX_MODEL_LEN))
PROMPT_IDS = [5, 6, 7, 8, 9, 10, 11, 12]
HELLO = [{"role": "user", "content": "hello there"}]
FORCED = {"ignore_eos": True, "temperature": 0}

Behaviour = Callable[[httpx.Client, str], Any]


def _completion(model: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "prompt": PROMPT_IDS, "max_tokens": 4, **FORCED, **fields}


def _chat(model: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": HELLO, "max_tokens": 4, **FORCED, **fields}


def _stream(client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    with client.stream("POST", path, json=body | {"stream": True}) as response:
        raw = response.read()
    if response.status_code != 200:
        return error_shape(response)
    return stream_shape(response, raw)


def _error(client: httpx.Client, path: str, body: Any) -> Any:
    return error_shape(client.post(path, json=body))


def _raw_error(client: httpx.Client, path: str, content: bytes) -> Any:
    headers = {"content-type": "application/json"}
    return error_shape(client.post(path, content=content, headers=headers))


GENERATION: dict[str, Behaviour] = {
    "completion: body, finish reason and usage": lambda c, m: body_shape(
        c.post(COMPLETIONS, json=_completion(m))
    ),
    "chat completion: body, finish reason and usage": lambda c, m: body_shape(
        c.post(CHAT, json=_chat(m))
    ),
    "completion stream without usage": lambda c, m: _stream(c, COMPLETIONS, _completion(m)),
    "completion stream with the final usage chunk": lambda c, m: _stream(
        c, COMPLETIONS, _completion(m, stream_options={"include_usage": True})
    ),
    "chat stream without usage": lambda c, m: _stream(c, CHAT, _chat(m)),
    "chat stream with the final usage chunk": lambda c, m: _stream(
        c, CHAT, _chat(m, stream_options={"include_usage": True})
    ),
    "chat stream with usage on every chunk": lambda c, m: _stream(
        c,
        CHAT,
        _chat(m, stream_options={"include_usage": True, "continuous_usage_stats": True}),
    ),
    "response id from the x-request-id header": lambda c, m: c.post(
        COMPLETIONS, json=_completion(m, max_tokens=1), headers={"x-request-id": "conformance-1"}
    ).json()["id"],
    "omitted model means the served one": lambda c, m: (
        c.post(
            COMPLETIONS,
            json={k: v for k, v in _completion(m, max_tokens=1).items() if k != "model"},
        ).json()["model"]
        == m
    ),
    "priority without the priority policy": lambda c, m: (
        c.post(COMPLETIONS, json=_completion(m, max_tokens=1, priority=3)).status_code
    ),
    "output limit cut to what fits after the prompt": lambda c, m: body_shape(
        c.post(COMPLETIONS, json=_completion(m, prompt=[5] * (MAX_MODEL_LEN - 4), max_tokens=10))
    ),
    "prompt token count of a text": lambda c, m: c.post(
        COMPLETIONS, json={"model": m, "prompt": "hello world", "max_tokens": 1, **FORCED}
    ).json()["usage"]["prompt_tokens"],
}

BAD_INPUT: dict[str, Behaviour] = {
    "over-length prompt (completions)": lambda c, m: _error(
        c, COMPLETIONS, {"model": m, "prompt": OVER_LENGTH_TEXT, "max_tokens": 3}
    ),
    "over-length prompt (chat)": lambda c, m: _error(
        c, CHAT, {"model": m, "messages": [{"role": "user", "content": OVER_LENGTH_TEXT}]}
    ),
    "over-length prompt (streaming: a plain JSON error)": lambda c, m: _stream(
        c, CHAT, {"model": m, "messages": [{"role": "user", "content": OVER_LENGTH_TEXT}]}
    ),
    "prompt that fills the context": lambda c, m: _error(
        c, COMPLETIONS, _completion(m, prompt=[5] * MAX_MODEL_LEN, max_tokens=1)
    ),
    "max_tokens above max_model_len": lambda c, m: _error(
        c, COMPLETIONS, _completion(m, max_tokens=5 * MAX_MODEL_LEN)
    ),
    "max_completion_tokens above max_model_len": lambda c, m: _error(
        c, CHAT, {"model": m, "messages": HELLO, "max_completion_tokens": 5 * MAX_MODEL_LEN}
    ),
    "max_tokens above max_model_len with an over-length prompt": lambda c, m: _error(
        c, COMPLETIONS, {"model": m, "prompt": OVER_LENGTH_TEXT, "max_tokens": 5 * MAX_MODEL_LEN}
    ),
    "max_tokens zero": lambda c, m: _error(c, COMPLETIONS, _completion(m, max_tokens=0)),
    "max_tokens negative": lambda c, m: _error(c, COMPLETIONS, _completion(m, max_tokens=-1)),
    "max_tokens zero (chat, streaming)": lambda c, m: _stream(c, CHAT, _chat(m, max_tokens=0)),
    "max_completion_tokens zero": lambda c, m: _error(
        c, CHAT, {"model": m, "messages": HELLO, "max_completion_tokens": 0}
    ),
    "max_tokens not an integer": lambda c, m: _error(
        c, COMPLETIONS, _completion(m, max_tokens="many")
    ),
    "max_tokens fractional": lambda c, m: _error(c, COMPLETIONS, _completion(m, max_tokens=2.5)),
    "min_tokens above max_tokens": lambda c, m: _error(
        c, COMPLETIONS, _completion(m, max_tokens=2, min_tokens=5)
    ),
    "min_tokens negative": lambda c, m: _error(c, COMPLETIONS, _completion(m, min_tokens=-1)),
    "bad JSON (completions)": lambda c, m: _raw_error(c, COMPLETIONS, b"{not json"),
    "bad JSON (chat)": lambda c, m: _raw_error(c, CHAT, b'{"model": "x", "messages": [}'),
    "body that is not an object": lambda c, m: _error(c, COMPLETIONS, [1, 2]),
    "missing messages": lambda c, m: _error(c, CHAT, {"model": m, "max_tokens": 2}),
    "empty messages": lambda c, m: _error(c, CHAT, {"model": m, "messages": [], "max_tokens": 2}),
    "message without a role": lambda c, m: _error(
        c, CHAT, {"model": m, "messages": [{"content": "hi"}], "max_tokens": 2}
    ),
    "missing prompt": lambda c, m: _error(c, COMPLETIONS, {"model": m, "max_tokens": 2}),
    "empty prompt": lambda c, m: _error(c, COMPLETIONS, _completion(m, prompt="")),
    "unknown model": lambda c, m: _error(c, COMPLETIONS, _completion("no-such-model")),
    "unknown model (chat, streaming)": lambda c, m: _stream(c, CHAT, _chat("no-such-model")),
    "n zero": lambda c, m: _error(c, COMPLETIONS, _completion(m, n=0)),
    "n above one": lambda c, m: error_shape(c.post(COMPLETIONS, json=_completion(m, n=2))),
    "logprobs": lambda c, m: error_shape(c.post(COMPLETIONS, json=_completion(m, logprobs=1))),
}
