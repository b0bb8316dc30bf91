"""What one engine-simulator server holds while it runs, built in the app's lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import fastapi

from sloserve.engine import config, core, timing
from sloserve.engine.server import faults, metrics, runner
from sloserve.scheduling import latency_profile

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """Everything a server needs; the CLI builds it from vLLM-style flags.

    `served_model_names`: the names clients may send as `model` (the first one labels metrics).
    `model`: what `/v1/models` reports as the root. `slowdown` and `time_scale`: initial step-time
    multipliers (see `timing`); `cpu_overhead_ms` overrides the profile's per-step CPU overhead.
    """

    model: str
    served_model_names: tuple[str, ...]
    profile: latency_profile.LatencyProfile
    engine: config.EngineConfig
    slowdown: float = 1.0
    time_scale: float = 1.0
    cpu_overhead_ms: float | None = None

    def __post_init__(self) -> None:
        if not self.served_model_names:
            raise ValueError("served_model_names must name at least one model")


class ServerRuntime:
    """The engine, its clock task, its metrics and the simulated-fault setting of one server."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        timer = timing.StepTimer(
            settings.profile,
            slowdown=settings.slowdown,
            time_scale=settings.time_scale,
            cpu_overhead_ms=settings.cpu_overhead_ms,
        )
        engine = core.EngineCore(settings.engine, timer, token_events=True)
        self.metrics = metrics.EngineMetrics(
            model_name=settings.served_model_names[0],
            snapshot=self._snapshot,
            cache_config=metrics.cache_config_labels(settings.engine),
        )
        self.fault = faults.FaultSetting()
        self.runner = runner.EngineRunner(engine, observer=self.metrics, fault=self._fault)
        self.created = int(time.time())
        self._warned_fields: set[str] = set()

    @property
    def timer(self) -> timing.StepTimer:
        return self.runner.engine.timer

    def serves(self, model: str) -> bool:
        """Whether `model` is one of the served names."""
        return model in self.settings.served_model_names

    def warn_ignored_fields(self, fields: Iterable[str]) -> None:
        """Log, once per field name, that a request field has no effect here."""
        new = sorted(set(fields) - self._warned_fields)
        if new:
            self._warned_fields.update(new)
            logger.warning("ignoring request fields the engine simulator does not use: %s", new)

    def _fault(self) -> faults.FaultSetting:
        return self.fault

    def _snapshot(self) -> core.EngineSnapshot:
        return self.runner.snapshot()


def get_runtime(request: fastapi.Request) -> ServerRuntime:
    """FastAPI dependency: the server's runtime, built by the lifespan."""
    runtime: ServerRuntime = request.app.state.runtime
    return runtime
