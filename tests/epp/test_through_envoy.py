"""The picker behind a real Envoy (the release binary `make setup` fetches), configured as the
inference extension's gateways configure it: clients talk HTTP to Envoy, Envoy asks the picker
over ext_proc and sends each request where the picker said."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from epp_harness import MODEL, completion
from real_envoy import FakeEngine, fake_engines, running_envoy

from sloserve.dev import envoy

OPEN = {"anonymous": {}}
LABELS = {"namespace": "", "modelservice": "", "model": MODEL}


@pytest.fixture
def envoy_binary() -> Path:
    found = envoy.cached_binary()
    if found is None:
        pytest.skip(
            f"no Envoy binary at {envoy.binary_path()}: `make setup` fetches it (or set "
            "SLOSERVE_ENVOY to one)"
        )
    return found


@pytest.fixture
async def engines() -> AsyncIterator[list[FakeEngine]]:
    async with fake_engines(2) as started:
        yield started


async def test_envoy_sends_a_streamed_completion_to_the_engine_the_picker_chose(
    picker: Any, engines: list[FakeEngine], envoy_binary: Path, tmp_path: Path
) -> None:
    epp = await picker(engine_urls=[engine.url for engine in engines], tenants=OPEN)
    async with (
        running_envoy(envoy_binary, tmp_path, picker_port=epp.grpc_port) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        body = completion(stream=True)
        answer = await client.post(
            "/v1/completions",
            content=body,
            headers={"content-type": "application/json", "x-slo-class": "interactive"},
        )

    assert answer.status_code == 200, answer.text
    assert answer.text.endswith("data: [DONE]\n\n")
    assert answer.headers["x-slo-class"] == "interactive"
    served = [engine for engine in engines if engine.received]
    assert len(served) == 1
    received = served[0].received[0]
    assert received["body"] == json.loads(body)
    assert received["headers"]["x-request-id"] == answer.headers["x-request-id"]
    labels = {**LABELS, "slo_class": "interactive"}
    assert epp.metric("sloserve_requests_admitted_total", **labels) == 1
    assert epp.metric("sloserve_requests_finished_total", **labels, outcome="served") == 1
    assert epp.metric("sloserve_output_tokens_total", **labels) == 3
    assert all(ledger.inflight == 0 for ledger in epp.runtime().ledgers.values())
    assert epp.ctx.lifecycle.active == 0


async def test_envoy_answers_the_pickers_refusal_without_reaching_an_engine(
    picker: Any, engines: list[FakeEngine], envoy_binary: Path, tmp_path: Path
) -> None:
    epp = await picker(engine_urls=[engine.url for engine in engines], tenants=OPEN)
    async with (
        running_envoy(envoy_binary, tmp_path, picker_port=epp.grpc_port) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        too_long = await client.post(
            "/v1/completions",
            content=completion(prompt="word " * 200_000),
            headers={"content-type": "application/json", "x-slo-class": "interactive"},
        )
        unknown = await client.post(
            "/v1/completions",
            content=json.dumps({"model": "no-such-model", "prompt": "hi"}).encode(),
            headers={"content-type": "application/json"},
        )

    assert too_long.status_code == 429
    assert int(too_long.headers["retry-after"]) >= 1
    assert too_long.json()["error"]["code"] == "ttft_unattainable"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert not any(engine.received for engine in engines)
    assert epp.ctx.lifecycle.active == 0
