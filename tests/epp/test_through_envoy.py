"""The picker behind a real Envoy (the release binary `make setup` fetches), configured as the
inference extension's gateways configure it: clients talk HTTP to Envoy, Envoy asks the picker
over ext_proc and sends each request where the picker said."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from epp_harness import MODEL, completion
from real_envoy import FakeEngine, fake_engines, running_envoy

from sloserve_dev import envoy

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


async def test_envoy_waits_on_the_stream_while_the_picker_queues_the_request(
    picker: Any, envoy_binary: Path, tmp_path: Path
) -> None:
    async with fake_engines(1) as (engine,):
        engine.gate = asyncio.Event()
        epp = await picker(engine_urls=[engine.url], tenants=OPEN, maxNumSeqs=1)
        scheduler = epp.runtime().scheduler
        async with (
            running_envoy(envoy_binary, tmp_path, picker_port=epp.grpc_port) as base,
            httpx.AsyncClient(base_url=base, timeout=30) as client,
        ):
            first = asyncio.create_task(post_completion(client))
            await epp.until(lambda: len(engine.received) == 1, "the first request to run")
            second = asyncio.create_task(post_completion(client))
            await epp.until(lambda: scheduler.queue_length == 1, "the second request to queue")
            assert len(engine.received) == 1
            engine.gate.set()
            answers = [await first, await second]

    assert [answer.status_code for answer in answers] == [200, 200]
    assert len(engine.received) == 2
    labels = {**LABELS, "slo_class": "standard"}
    assert epp.metric("sloserve_requests_finished_total", **labels, outcome="served") == 2
    assert epp.metric("sloserve_queue_time_seconds_count", **labels) == 2


async def test_a_client_leaving_while_queued_takes_the_request_out_of_the_queue(
    picker: Any, envoy_binary: Path, tmp_path: Path
) -> None:
    async with fake_engines(1) as (engine,):
        engine.gate = asyncio.Event()
        epp = await picker(engine_urls=[engine.url], tenants=OPEN, maxNumSeqs=1)
        scheduler = epp.runtime().scheduler
        async with (
            running_envoy(envoy_binary, tmp_path, picker_port=epp.grpc_port) as base,
            httpx.AsyncClient(base_url=base, timeout=30) as client,
        ):
            first = asyncio.create_task(post_completion(client))
            await epp.until(lambda: len(engine.received) == 1, "the first request to run")
            leaving = asyncio.create_task(post_completion(client))
            await epp.until(lambda: scheduler.queue_length == 1, "the second request to queue")
            leaving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leaving
            labels = {**LABELS, "slo_class": "standard"}
            await epp.until(
                lambda: (
                    epp.metric("sloserve_requests_finished_total", **labels, outcome="cancelled")
                    == 1
                ),
                "the picker to count the queued request as cancelled",
            )
            assert scheduler.queue_length == 0
            engine.gate.set()
            assert (await first).status_code == 200

    assert len(engine.received) == 1
    assert epp.ctx.lifecycle.active == 0


async def post_completion(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        "/v1/completions",
        content=completion(stream=True),
        headers={"content-type": "application/json"},
    )
