"""The gateway's FastAPI application, assembled in its lifespan.

Nothing is created at import time: `create_app(settings)` returns an app whose lifespan builds the
pooled HTTP client, the datastore and its sources, the tenants, the metrics and the per-model
runtimes, and on shutdown drains in-flight requests within the grace period before closing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import httpx
from fastapi import FastAPI

from sloserve.gateway import (
    context,
    datastore,
    errors,
    lifecycle,
    metrics,
    runtime,
    runtimes,
    settings,
    static_config,
    tasks,
    tenant_source,
    tokenizer_source,
)
from sloserve.gateway.serving import routes_openai, routes_ops
from sloserve.gateway.upstream import engine_client

log = logging.getLogger(__name__)


def create_app(
    config: settings.GatewaySettings,
    *,
    engine_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The gateway app. `engine_transport` replaces the network under both engine clients (tests
    pass an `httpx.MockTransport`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _gateway(config, engine_transport) as gateway_context:
            app.state.gateway = gateway_context
            yield

    app = FastAPI(title="sloserve gateway", lifespan=lifespan)
    # The generation routes first: the router tries routes in order, and they carry the traffic.
    app.include_router(routes_openai.router)
    app.include_router(routes_ops.router)
    errors.install_handlers(app)
    return app


def engine_timeout(config: settings.ProxySettings) -> httpx.Timeout:
    return httpx.Timeout(
        connect=config.connect_timeout_s,
        read=config.read_timeout_s,
        write=config.connect_timeout_s,
        pool=config.connect_timeout_s,
    )


@contextlib.asynccontextmanager
async def _gateway(
    config: settings.GatewaySettings, transport: httpx.AsyncBaseTransport | None
) -> AsyncIterator[context.GatewayContext]:
    gateway_metrics = metrics.GatewayMetrics()
    timeout = engine_timeout(config.proxy)
    client = httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        limits=httpx.Limits(max_connections=config.proxy.max_connections),
    )
    # Tests that replace the network send generation requests through their transport too.
    engines: engine_client.EngineClient = (
        engine_client.HttpxEngineClient(transport, timeout=timeout)
        if transport is not None
        else engine_client.AiohttpEngineClient(
            max_connections=config.proxy.max_connections,
            connect_timeout_s=config.proxy.connect_timeout_s,
            read_timeout_s=config.proxy.read_timeout_s,
        )
    )
    clock = runtime.MonotonicClock()
    store = datastore.Datastore()
    model_runtimes = runtimes.Runtimes(
        config=config.scheduling,
        client=client,
        clock=clock,
        gateway_metrics=gateway_metrics,
        read_config_map=tokenizer_source.kube_config_map if config.sources.kubernetes else None,
    )
    store.subscribe(model_runtimes.on_record)
    # A static models file names every class the gateway serves, so the tenants can be checked
    # against it; models discovered from Kubernetes come and go.
    every_class_known = config.sources.config_file is not None and not config.sources.kubernetes
    gateway_lifecycle = lifecycle.Lifecycle()
    background: list[asyncio.Task[None]] = []
    stop_sources: list[Callable[[], None]] = []
    synced: list[Callable[[], bool]] = []
    try:
        if config.sources.config_file is not None:
            static_config.feed(store, static_config.load_static_config(config.sources.config_file))
        tenants = tenant_source.TenantSource(
            path=config.sources.tenants_file,
            on_reload_failure=gateway_metrics.tenant_reload_failures.inc,
            known_classes=(lambda: store.class_names()) if every_class_known else (lambda: None),
        )
        if config.sources.kubernetes:
            # Imported here so that a gateway on a static file never loads the Kubernetes client.
            from sloserve.gateway import kube_discovery

            discovery = kube_discovery.KubernetesDiscovery(
                store=store, loop=asyncio.get_running_loop(), namespace=config.sources.namespace
            )
            discovery.start()
            stop_sources.append(discovery.stop)
            synced.append(discovery.synced)
        if config.sources.tenants_file is not None:
            background.append(
                tasks.start(
                    tenants.watch(interval_s=config.sources.tenants_reload_interval_s),
                    name="tenants file watch",
                )
            )
        yield context.GatewayContext(
            settings=config,
            client=client,
            engines=engines,
            store=store,
            runtimes=model_runtimes,
            tenants=tenants,
            metrics=gateway_metrics,
            lifecycle=gateway_lifecycle,
            clock=clock,
            started_at=int(time.time()),
            sources_synced=lambda: all(check() for check in synced),
        )
        await gateway_lifecycle.drain(grace_period_s=config.shutdown.grace_period_s)
    finally:
        for stop in stop_sources:
            stop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await model_runtimes.stop_all()
        await client.aclose()
        await engines.aclose()
