"""A real Envoy in front of the picker, configured as the inference extension's gateways configure
it: the ext_proc filter in full-duplex streaming for both bodies (trailers sent, as that mode
requires), a long message timeout so that queued requests may wait on the stream, and an
original-destination cluster that sends each request to the `ip:port` of the
`x-gateway-destination-endpoint` header the picker sets. Also fake engines for it to reach.

The binary is the one `make setup` fetched (`sloserve_dev.envoy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiohttp import web

from sloserve.epp import protocol


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bootstrap(*, listen_port: int, picker_port: int) -> dict[str, Any]:
    """Envoy's static configuration: one listener, the picker's cluster, the pool's cluster."""
    ext_proc = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
        "grpc_service": {"envoy_grpc": {"cluster_name": "picker"}},
        "failure_mode_allow": False,
        "message_timeout": "300s",
        "processing_mode": {
            "request_header_mode": "SEND",
            "response_header_mode": "SEND",
            "request_body_mode": "FULL_DUPLEX_STREAMED",
            "response_body_mode": "FULL_DUPLEX_STREAMED",
            "request_trailer_mode": "SEND",
            "response_trailer_mode": "SEND",
        },
    }
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
        ".v3.HttpConnectionManager",
        "stat_prefix": "inference",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "inference",
                    "domains": ["*"],
                    "routes": [
                        {"match": {"prefix": "/"}, "route": {"cluster": "pool", "timeout": "0s"}}
                    ],
                }
            ]
        },
        "http_filters": [
            {"name": "envoy.filters.http.ext_proc", "typed_config": ext_proc},
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    return {
        "admin": {"address": _address(0)},
        "static_resources": {
            "listeners": [
                {
                    "name": "inference",
                    "address": _address(listen_port),
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "picker",
                    "type": "STATIC",
                    "connect_timeout": "2s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3"
                            ".HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": "picker",
                        "endpoints": [
                            {"lb_endpoints": [{"endpoint": {"address": _address(picker_port)}}]}
                        ],
                    },
                },
                {
                    "name": "pool",
                    "type": "ORIGINAL_DST",
                    "lb_policy": "CLUSTER_PROVIDED",
                    "connect_timeout": "2s",
                    "original_dst_lb_config": {
                        "use_http_header": True,
                        "http_header_name": protocol.DESTINATION_HEADER,
                    },
                },
            ],
        },
    }


def _address(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


@contextlib.asynccontextmanager
async def running_envoy(binary: Path, directory: Path, *, picker_port: int) -> AsyncIterator[str]:
    """Envoy running until the block ends; yields its listener's base URL once it is ready."""
    listen_port = free_port()
    child = _start(binary, directory, listen_port=listen_port, picker_port=picker_port)
    try:
        await _until_ready(child, directory)
        yield f"http://127.0.0.1:{listen_port}"
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _start(
    binary: Path, directory: Path, *, listen_port: int, picker_port: int
) -> subprocess.Popen[bytes]:
    config = directory / "envoy.yaml"
    config.write_text(yaml.safe_dump(bootstrap(listen_port=listen_port, picker_port=picker_port)))
    with (directory / "envoy.log").open("wb") as log:
        return subprocess.Popen(
            [
                str(binary),
                "--config-path",
                str(config),
                "--admin-address-path",
                str(directory / "envoy-admin.txt"),
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def _until_ready(child: subprocess.Popen[bytes], directory: Path) -> None:
    deadline = asyncio.get_running_loop().time() + 30.0
    async with httpx.AsyncClient() as client:
        while asyncio.get_running_loop().time() < deadline:
            if child.poll() is not None:
                log = _read(directory / "envoy.log")
                raise AssertionError(f"envoy exited ({child.returncode}): {log}")
            address = _read(directory / "envoy-admin.txt").strip()
            if address:
                with contextlib.suppress(httpx.HTTPError):
                    ready = await client.get(f"http://{address}/ready")
                    if ready.status_code == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError(f"envoy did not become ready: {_read(directory / 'envoy.log')}")


@dataclass
class FakeEngine:
    """An engine that streams `tokens` tokens for every completion and records what it got;
    with `gate`, it answers only once the gate opens."""

    tokens: int = 3
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    gate: asyncio.Event | None = None

    async def completions(self, request: web.Request) -> web.StreamResponse:
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.received.append({"headers": headers, "body": json.loads(await request.read())})
        if self.gate is not None:
            await self.gate.wait()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for _ in range(self.tokens):
            await response.write(b'data: {"choices":[{"index":0,"text":"tok"}]}\n\n')
        usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": self.tokens}}
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def fake_engines(count: int) -> AsyncIterator[list[FakeEngine]]:
    engines = [FakeEngine() for _ in range(count)]
    runners: list[web.AppRunner] = []
    try:
        for engine in engines:
            application = web.Application()
            application.router.add_post("/v1/completions", engine.completions)
            runner = web.AppRunner(application)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]
            engine.url = f"http://{host}:{port}"
            runners.append(runner)
        yield engines
    finally:
        for runner in runners:
            await runner.cleanup()
