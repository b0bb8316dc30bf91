"""The endpoint picker's parts, assembled: the same datastore, per-model runtimes, tenants and
metrics as the gateway's, fed by the same sources (a static models file, or Kubernetes: here the
InferencePools' pods rather than EndpointSlices), and the picker over them.

Nothing is created at import time: `running(settings)` builds everything, yields the context,
and on the way out stops the sources and the runtimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

from sloserve.epp import lanes, picker, protocol, scrape_transport, settings
from sloserve.gateway import (
    datastore,
    lifecycle,
    metrics,
    runtime,
    runtimes,
    static_config,
    tenant_source,
    tokenizer_source,
)

log = logging.getLogger(__name__)

_LANE_SWEEP_INTERVAL_S = 10.0


@dataclass(frozen=True)
class EppContext:
    """Everything the servers need, built once."""

    settings: settings.EppSettings
    store: datastore.Datastore
    runtimes: runtimes.Runtimes
    lanes: lanes.SubsetLanes
    metrics: metrics.GatewayMetrics
    lifecycle: lifecycle.Lifecycle
    picker: picker.Picker
    sources_synced: Callable[[], bool]
    """Whether every source of models has delivered its first full listing."""

    @property
    def request_body_mode(self) -> protocol.BodyMode:
        return protocol.BodyMode(self.settings.protocol.request_body_mode)

    @property
    def response_body_mode(self) -> protocol.BodyMode:
        return protocol.BodyMode(self.settings.protocol.response_body_mode)

    def ready(self) -> bool:
        return self.sources_synced() and not self.lifecycle.draining

    def publish_load(self) -> None:
        """Set the queue and in-flight gauges from the runtimes (lanes' queues included)."""
        for model_runtime in self.runtimes.all():
            record = model_runtime.record
            queued = model_runtime.scheduler.queue_length + sum(
                lane.scheduler.queue_length for lane in self.lanes.lanes_of(record.model)
            )
            self.metrics.publish_load(
                record.labels,
                queued=queued,
                inflight={url: ledger.inflight for url, ledger in model_runtime.ledgers.items()},
            )


@contextlib.asynccontextmanager
async def running(
    config: settings.EppSettings, *, engine_transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[EppContext]:
    """The picker's context while the block runs. `engine_transport` replaces the network under
    the client that scrapes the engines' metrics (tests pass an `httpx.MockTransport`)."""
    picker_metrics = metrics.GatewayMetrics()
    tenants = tenant_source.TenantSource(
        path=config.sources.tenants_file,
        on_reload_failure=picker_metrics.tenant_reload_failures.inc,
    )
    # Scrapes go through aiohttp unless a transport is given (scrape_transport says why).
    client = httpx.AsyncClient(
        transport=engine_transport or scrape_transport.AiohttpTransport(max_connections=64),
        timeout=httpx.Timeout(config.scheduling.engine_metrics_interval_s),
    )
    clock = runtime.MonotonicClock()
    store = datastore.Datastore()
    model_runtimes = runtimes.Runtimes(
        config=config.scheduling,
        client=client,
        clock=clock,
        gateway_metrics=picker_metrics,
        read_config_map=tokenizer_source.kube_config_map if config.sources.kubernetes else None,
    )
    subset_lanes = lanes.SubsetLanes(config=config.scheduling, client=client, clock=clock)
    store.subscribe(model_runtimes.on_record)
    store.subscribe(subset_lanes.on_record)
    picker_lifecycle = lifecycle.Lifecycle()
    background: list[asyncio.Task[None]] = [asyncio.create_task(_sweep(subset_lanes))]
    stop_sources: list[Callable[[], None]] = []
    synced: list[Callable[[], bool]] = []
    try:
        if config.sources.config_file is not None:
            static_config.feed(store, static_config.load_static_config(config.sources.config_file))
        if config.sources.kubernetes:
            # Imported here so that a picker on a static file never loads the Kubernetes client.
            from sloserve.epp import kube_pools

            discovery = kube_pools.PoolDiscovery(
                store=store,
                loop=asyncio.get_running_loop(),
                namespace=config.sources.namespace,
                pool_names=frozenset(config.sources.pools),
            )
            discovery.start()
            stop_sources.append(discovery.stop)
            synced.append(discovery.synced)
        if config.sources.tenants_file is not None:
            background.append(
                asyncio.create_task(
                    tenants.watch(interval_s=config.sources.tenants_reload_interval_s)
                )
            )
        endpoint_picker = picker.Picker(
            store=store,
            model_runtimes=model_runtimes,
            subset_lanes=subset_lanes,
            tenant_file=tenants,
            gateway_metrics=picker_metrics,
            scheduling=config.scheduling,
            picker_lifecycle=picker_lifecycle,
            clock=clock,
            trust_fairness_id=config.protocol.trust_fairness_id,
        )
        yield EppContext(
            settings=config,
            store=store,
            runtimes=model_runtimes,
            lanes=subset_lanes,
            metrics=picker_metrics,
            lifecycle=picker_lifecycle,
            picker=endpoint_picker,
            sources_synced=lambda: all(check() for check in synced),
        )
    finally:
        for stop in stop_sources:
            stop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await subset_lanes.stop_all()
        await model_runtimes.stop_all()
        await client.aclose()


async def _sweep(subset_lanes: lanes.SubsetLanes) -> None:
    while True:
        await asyncio.sleep(_LANE_SWEEP_INTERVAL_S)
        subset_lanes.sweep()
