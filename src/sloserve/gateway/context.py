"""Everything a request handler needs, built once in the app's lifespan and injected."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from sloserve.gateway import datastore, lifecycle, metrics, runtime, runtimes, settings
from sloserve.gateway import tenant_source as tenant_source_module
from sloserve.gateway.upstream import engine_client


@dataclass(frozen=True)
class GatewayContext:
    settings: settings.GatewaySettings
    client: httpx.AsyncClient
    """Everything else sent to engines (the scrapes of their metrics)."""
    engines: engine_client.EngineClient
    """Generation requests to engines."""
    store: datastore.Datastore
    runtimes: runtimes.Runtimes
    tenants: tenant_source_module.TenantSource
    metrics: metrics.GatewayMetrics
    lifecycle: lifecycle.Lifecycle
    clock: runtime.MonotonicClock
    started_at: int
    """Unix time the gateway started, the `created` of its models."""
    sources_synced: Callable[[], bool]
    """Whether every source of models has delivered its first full listing."""


async def get_context(request: Request) -> GatewayContext:
    """The context the lifespan stored on the app; tests may override this dependency.

    A coroutine on purpose: FastAPI runs plain functions in a thread pool, a thread hop per
    request that costs more than everything else the gateway does."""
    context: GatewayContext = request.app.state.gateway
    return context


Context = Annotated[GatewayContext, Depends(get_context)]
