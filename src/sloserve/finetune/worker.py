"""`sloserve finetune-worker`'s server: the control endpoint and the Prometheus metrics around a
trainer (the simulated one, or the real PEFT loop).

- `GET /status`: the trainer's status as JSON (state, steps, checkpoint step, tokens per second,
  loss, share, micro-batch).
- `POST /control`: `{"paused": true|false, "share": 0..1, "microBatch": n}`, any of them; the
  operator's throttle writes `share` (0 pauses, above 0 runs, a worker started `--paused`
  included), a user's pause writes `paused` (which wins over a share in the same request). A
  bad value is refused (422) naming the field.
- `GET /metrics`: `sloserve_finetune_*` gauges, read from the trainer at each scrape.
- `GET /health`: 200 while the server runs.

One driver thread advances the trainer on the wall clock (`Driver`); requests and the driver
take one lock, so a control change lands between two steps, never inside one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import fastapi
import prometheus_client
from prometheus_client import core as prometheus_core
from prometheus_client import registry as prometheus_registry
from pydantic import ConfigDict, Field

from sloserve.api.fields import ApiModel
from sloserve.finetune.trainer import TrainerState, TrainerStatus

__all__ = ["ControlRequest", "Driver", "Trainer", "build_app", "status_document"]

METRIC_PREFIX = "sloserve_finetune_"


class Trainer(Protocol):
    """What the worker drives: `trainer.SimulatedTrainer` or `peft_loop.PeftTrainer`."""

    def advance(self, now_s: float) -> int: ...
    def pause(self, now_s: float) -> None: ...
    def resume(self, now_s: float) -> None: ...
    def set_share(self, share: float) -> None: ...
    def set_micro_batch(self, micro_batch: int) -> None: ...
    def status(self) -> TrainerStatus: ...


class ControlRequest(ApiModel):
    """A change to the running job; fields left out stay as they are."""

    model_config = ConfigDict(frozen=True)

    paused: bool | None = None
    """Pause (checkpointing first) or resume."""

    share: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    """Share of GPU time (duty cycle) from the next step on; 0 pauses."""

    micro_batch: int | None = Field(default=None, ge=1, le=1024)
    """Sequences per step from the next step on."""


def status_document(status: TrainerStatus) -> dict[str, object]:
    """The status as the control endpoint and the operator read it (camelCase)."""
    return {
        "state": status.state.value,
        "completedSteps": status.completed_steps,
        "totalSteps": status.total_steps,
        "checkpointStep": status.checkpoint_step,
        "tokens": status.tokens,
        "tokensPerSecond": round(status.tokens_per_s, 3),
        "loss": status.loss,
        "share": status.share,
        "microBatch": status.micro_batch,
    }


class Driver:
    """The trainer behind a lock, advanced by a thread on `clock` every `period_s`."""

    def __init__(
        self,
        trainer: Trainer,
        *,
        clock: Callable[[], float] = time.monotonic,
        period_s: float = 0.05,
    ) -> None:
        self._trainer = trainer
        self._clock = clock
        self._period_s = period_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the driver thread."""
        self._thread = threading.Thread(target=self._run, name="finetune-driver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the driver thread (the trainer keeps its state)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def tick(self) -> None:
        """Advance the trainer to now (the thread calls this; tests call it directly)."""
        with self._lock:
            self._trainer.advance(self._clock())

    def control(self, request: ControlRequest) -> TrainerStatus:
        """Apply `request`; returns the status after it."""
        with self._lock:
            now_s = self._clock()
            self._trainer.advance(now_s)
            if request.micro_batch is not None:
                self._trainer.set_micro_batch(request.micro_batch)
            if request.share is not None:
                # the operator is the one writer of `share`: a share above 0 runs the job (a
                # user's pause reaches the worker as `paused`, which wins below)
                if request.share == 0:
                    self._trainer.pause(now_s)
                else:
                    self._trainer.set_share(request.share)
                    self._trainer.resume(now_s)
            if request.paused is True:
                self._trainer.pause(now_s)
            elif request.paused is False:
                self._trainer.resume(now_s)
            return self._trainer.status()

    def status(self) -> TrainerStatus:
        """The trainer's status now."""
        with self._lock:
            self._trainer.advance(self._clock())
            return self._trainer.status()

    def _run(self) -> None:
        while not self._stop.wait(self._period_s):
            self.tick()
            if self.status().state is TrainerState.DONE:
                return


class _Collector(prometheus_registry.Collector):
    def __init__(self, driver: Driver, job: str) -> None:
        self._driver = driver
        self._job = job

    def collect(self) -> Iterator[prometheus_core.Metric]:
        status = self._driver.status()
        values = {
            "steps": ("Optimizer steps completed.", status.completed_steps),
            "total_steps": ("Steps the job runs in all.", status.total_steps),
            "checkpoint_step": ("Step of the last checkpoint.", status.checkpoint_step),
            "tokens": ("Training tokens processed.", status.tokens),
            "tokens_per_second": ("Training tokens per second, recent steps.", status.tokens_per_s),
            "share": ("Share of GPU time the job may use (duty cycle).", status.share),
            "micro_batch": ("Sequences per step.", status.micro_batch),
            "paused": ("1 while paused.", 1.0 if status.state is TrainerState.PAUSED else 0.0),
            "done": (
                "1 once every step has run.",
                1.0 if status.state is TrainerState.DONE else 0.0,
            ),
        }
        if status.loss is not None:
            values["loss"] = ("Training loss of the last step.", status.loss)
        for name, (documentation, value) in values.items():
            gauge = prometheus_core.GaugeMetricFamily(
                METRIC_PREFIX + name, documentation, labels=["job"]
            )
            gauge.add_metric([self._job], float(value))
            yield gauge


def build_app(driver: Driver, *, job: str) -> fastapi.FastAPI:
    """The worker's HTTP application around `driver`; `job` labels the metrics."""
    app = fastapi.FastAPI(title="sloserve finetune-worker")
    registry = prometheus_client.CollectorRegistry(auto_describe=True)
    registry.register(_Collector(driver, job))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/status")
    def status() -> dict[str, object]:
        return status_document(driver.status())

    @app.post("/control")
    def control(request: ControlRequest) -> dict[str, object]:
        try:
            return status_document(driver.control(request))
        except ValueError as error:
            raise fastapi.HTTPException(status_code=422, detail=str(error)) from error

    @app.get("/metrics")
    def metrics() -> fastapi.Response:
        return fastapi.Response(
            prometheus_client.generate_latest(registry),
            media_type=prometheus_client.CONTENT_TYPE_LATEST,
        )

    return app
