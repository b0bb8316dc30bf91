"""The picker's scrapes through aiohttp: httpx's client on top sees the engine's answer as its
own transport would give it, and the network's failures as httpx's errors."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from real_envoy import free_port

from sloserve.epp import scrape_transport

PAGE = 'vllm:num_requests_running{model_name="m"} 3.0\n'


@pytest.fixture
async def engine() -> AsyncIterator[str]:
    async def metrics(request: web.Request) -> web.Response:
        if request.query.get("gzip"):
            return web.Response(
                body=gzip.compress(PAGE.encode()),
                headers={"content-encoding": "gzip", "content-type": "text/plain"},
            )
        return web.Response(text=PAGE, headers={"x-seen-accept": request.headers["accept"]})

    application = web.Application()
    application.router.add_get("/metrics", metrics)
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def test_a_scrape_reads_status_headers_and_body(engine: str) -> None:
    transport = scrape_transport.AiohttpTransport(max_connections=4)
    async with httpx.AsyncClient(transport=transport) as client:
        answer = await client.get(f"{engine}/metrics", headers={"accept": "text/plain"})
    assert answer.status_code == 200
    assert answer.text == PAGE
    assert answer.headers["x-seen-accept"] == "text/plain"


async def test_a_compressed_page_is_decompressed_once(engine: str) -> None:
    transport = scrape_transport.AiohttpTransport(max_connections=4)
    async with httpx.AsyncClient(transport=transport) as client:
        answer = await client.get(f"{engine}/metrics?gzip=1")
    assert answer.text == PAGE


async def test_an_engine_that_is_not_listening_is_an_httpx_transport_error() -> None:
    transport = scrape_transport.AiohttpTransport(max_connections=4)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(f"http://127.0.0.1:{free_port()}/metrics")
