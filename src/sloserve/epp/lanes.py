"""Scheduling within the endpoints a gateway allows, when it allows fewer than the pool has.

A data plane may restrict a request to some endpoints (the subset hint). The scheduler places
each queued request on any engine of its model, so a request restricted to fewer engines waits in
a lane of its own: a runtime of the same model, policy and latency model whose engines are the
allowed ones. The lanes and the model's own queue see each other's requests on a shared engine
through the engine's metrics, as gateway replicas see each other's (`engine_ledger`), within a
scrape interval. A hint that allows every engine of the model takes the model's own queue; most
data planes send none. A lane idle for `idle_expiry_s` is stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import httpx

from sloserve.gateway import datastore, metrics, runtime, runtimes, settings

log = logging.getLogger(__name__)

LaneKey = tuple[str, frozenset[str]]


@dataclasses.dataclass
class _Lane:
    runtimes: runtimes.Runtimes
    model_runtime: runtime.ModelRuntime
    engines: frozenset[str]
    last_used_s: float


class SubsetLanes:
    """The lanes of every model, by model and allowed engines. Used from the event loop only."""

    def __init__(
        self,
        *,
        config: settings.SchedulingSettings,
        client: httpx.AsyncClient,
        clock: runtime.MonotonicClock,
        idle_expiry_s: float = 60.0,
    ) -> None:
        self._config = config
        self._client = client
        self._clock = clock
        self._idle_expiry_s = idle_expiry_s
        # A lane's SLO targets and forgotten gauges stay out of the exported registry: the
        # model's own runtime publishes them.
        self._unexported = metrics.GatewayMetrics()
        self._lanes: dict[LaneKey, _Lane] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def runtime_for(
        self, model_runtime: runtime.ModelRuntime, engines: frozenset[str]
    ) -> runtime.ModelRuntime:
        """The runtime that schedules requests of `model_runtime`'s model on `engines` only
        (a subset of its engines): the model's own when that is all of them."""
        record = model_runtime.record
        if engines >= set(record.engines):
            return model_runtime
        key = (record.model, engines)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._open(key, record)
        lane.last_used_s = self._clock.now()
        return lane.model_runtime

    def lanes_of(self, model: str) -> list[runtime.ModelRuntime]:
        return [lane.model_runtime for key, lane in self._lanes.items() if key[0] == model]

    def on_record(self, model: str, record: datastore.ModelRecord | None) -> None:
        """Follow the model's record: a lane keeps only the engines that are still there (with
        none left, what it holds in its queue is rejected as having no engines)."""
        for key, lane in list(self._lanes.items()):
            if key[0] != model:
                continue
            if record is None:
                self._retire(key)
                continue
            engines = tuple(sorted(lane.engines & set(record.engines)))
            lane.runtimes.on_record(model, dataclasses.replace(record, engines=engines))
            found = lane.runtimes.get(model)
            if found is None:
                self._retire(key)
            else:
                lane.model_runtime = found

    def sweep(self) -> None:
        """Stop the lanes that held no request for `idle_expiry_s`."""
        now_s = self._clock.now()
        for key, lane in list(self._lanes.items()):
            scheduler = lane.model_runtime.scheduler
            busy = scheduler.queue_length > 0 or len(scheduler.running) > 0
            if busy:
                lane.last_used_s = now_s
            elif now_s - lane.last_used_s >= self._idle_expiry_s:
                self._retire(key)

    async def stop_all(self) -> None:
        for key in list(self._lanes):
            self._retire(key)
        await asyncio.gather(*self._retiring, return_exceptions=True)

    def _open(self, key: LaneKey, record: datastore.ModelRecord) -> _Lane:
        model, engines = key
        lane_runtimes = runtimes.Runtimes(
            config=self._config,
            client=self._client,
            clock=self._clock,
            gateway_metrics=self._unexported,
        )
        lane_runtimes.on_record(model, dataclasses.replace(record, engines=tuple(sorted(engines))))
        found = lane_runtimes.get(model)
        if found is None:
            raise LookupError(lane_runtimes.unavailable.get(model, f"model {model!r} is gone"))
        log.info(
            "model %s: a lane for the %d of its %d engines a gateway allows",
            model,
            len(engines),
            len(record.engines),
        )
        lane = _Lane(
            runtimes=lane_runtimes,
            model_runtime=found,
            engines=engines,
            last_used_s=self._clock.now(),
        )
        self._lanes[key] = lane
        return lane

    def _retire(self, key: LaneKey) -> None:
        lane = self._lanes.pop(key)
        task = asyncio.get_running_loop().create_task(lane.runtimes.stop_all())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
