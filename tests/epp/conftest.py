"""Fixtures of the endpoint picker tests: a picker in process, serving gRPC on a free loopback
port (see epp_harness)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from epp_harness import CLASSES, MODEL, EngineMetrics, Picker, engine_url

from sloserve.epp import app, server, settings, tls
from sloserve.gateway import settings as gateway_settings


@pytest.fixture
async def picker(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Builds a picker (`engines` of them, or those of `engine_urls`; models file options as
    keyword arguments) and yields it running; everything is stopped after the test."""
    stack: list[Any] = []

    async def build(
        *,
        engines: int = 2,
        engine_urls: list[str] | None = None,
        tenants: dict[str, Any] | None = None,
        metrics: EngineMetrics | None = None,
        protocol: dict[str, Any] | None = None,
        scheduling: dict[str, Any] | None = None,
        secure: bool = False,
        **model: Any,
    ) -> Picker:
        models_file = tmp_path / "models.yaml"
        entry = {
            "model": MODEL,
            "profile": "synthetic",
            "sloClasses": CLASSES,
            "defaultClass": "standard",
            "engines": engine_urls or [engine_url(index) for index in range(engines)],
            **model,
        }
        models_file.write_text(yaml.safe_dump({"models": [entry]}))
        tenants_file = None
        if tenants is not None:
            tenants_file = tmp_path / "tenants.yaml"
            tenants_file.write_text(yaml.safe_dump(tenants))
        credentials = tls.self_signed("localhost") if secure else None
        cert_file = key_file = None
        if credentials is not None:
            cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
            cert_file.write_bytes(credentials.cert)
            key_file.write_bytes(credentials.key)
        config = settings.EppSettings(
            server=settings.ServerSettings(
                host="127.0.0.1",
                port=0,
                metrics_port=0,
                secure_serving=secure,
                cert_file=cert_file,
                key_file=key_file,
            ),
            sources=settings.SourceSettings(config_file=models_file, tenants_file=tenants_file),
            protocol=settings.ProtocolSettings(**(protocol or {})),
            scheduling=gateway_settings.SchedulingSettings(**(scheduling or {})),
            shutdown=gateway_settings.ShutdownSettings(grace_period_s=1.0),
        )
        running = app.running(config, engine_transport=(metrics or EngineMetrics()).transport())
        ctx = await running.__aenter__()
        serving = server.serving(ctx)
        grpc_port, http_port = await serving.__aenter__()
        if credentials is not None:
            channel = grpc.aio.secure_channel(
                f"localhost:{grpc_port}",
                grpc.ssl_channel_credentials(root_certificates=credentials.cert),
            )
        else:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
        stack.append((running, serving, channel))
        return Picker(ctx=ctx, channel=channel, http_port=http_port, grpc_port=grpc_port)

    yield build
    for running, serving, channel in reversed(stack):
        await channel.close()
        await serving.__aexit__(None, None, None)
        await running.__aexit__(None, None, None)
