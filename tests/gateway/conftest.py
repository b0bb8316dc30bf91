"""Shared fixtures of the gateway tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import gateway_processes
import httpx
import pytest
import yaml
from gateway_fakes import ENGINE_URL, MODEL, FakeEngine

from sloserve.gateway import app as gateway_app
from sloserve.gateway import settings

SCORPIO_CLASSES = [
    {"name": "interactive", "ttft": "500ms", "tpot": "50ms"},
    {"name": "standard", "ttft": "3s", "tpot": "30ms"},
    {"name": "batch", "ttft": "15s", "tpot": "50ms"},
]


def write_models_file(
    directory: Path, engines: list[str], *, profile: str = "synthetic", **extra: Any
) -> Path:
    path = directory / "models.yaml"
    entry = {
        "model": MODEL,
        "profile": profile,
        "sloClasses": SCORPIO_CLASSES,
        "defaultClass": "standard",
        "engines": engines,
        **extra,
    }
    path.write_text(yaml.safe_dump({"models": [entry]}))
    return path


def write_tenants_file(directory: Path, content: dict[str, Any]) -> Path:
    path = directory / "tenants.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


GatewayFactory = Callable[..., Any]


@pytest.fixture
async def gateway_client(
    tmp_path: Path, fake_engine: FakeEngine
) -> AsyncIterator[Callable[..., Any]]:
    """Builds a gateway on the fake engine and yields an httpx client to it (in process)."""
    stack: list[Any] = []

    async def build(
        tenants: dict[str, Any] | None = None,
        engines: list[str] | None = None,
        models_extra: dict[str, Any] | None = None,
        server: dict[str, Any] | None = None,
        **scheduling: Any,
    ) -> httpx.AsyncClient:
        config = settings.GatewaySettings(
            server=settings.ServerSettings(**(server or {})),
            sources=settings.SourceSettings(
                config_file=write_models_file(
                    tmp_path, engines or [ENGINE_URL], **(models_extra or {})
                ),
                tenants_file=write_tenants_file(tmp_path, tenants) if tenants else None,
            ),
            scheduling=settings.SchedulingSettings(**scheduling),
            shutdown=settings.ShutdownSettings(grace_period_s=1.0),
        )
        app = gateway_app.create_app(config, engine_transport=fake_engine.transport())
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        # Errors the app answered with a 500 are raised on by Starlette for the server to log;
        # the tests read the 500, as a client would.
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://gateway.test",
        )
        stack.append((lifespan, client))
        return client

    yield build
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[gateway_processes.Processes]:
    """Engine simulators and gateways as real processes, stopped after the test."""
    with gateway_processes.processes(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def instant_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[gateway_processes.Server]:
    """A gateway in front of one zero-latency engine simulator, shared by a test module."""
    with gateway_processes.processes(tmp_path_factory.mktemp("instant")) as running:
        # a context long enough for a prompt whose prefill alone misses the interactive TTFT
        engine = running.engine(time_scale=0.0, extra=["--max-model-len=131072"])
        yield running.gateway([engine])
