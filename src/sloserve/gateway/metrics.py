"""The gateway's Prometheus metrics; names and labels are a contract, documented in docs/metrics.md.

Each app owns its registry (built in the lifespan), so tests and several apps in one process never
share counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sloserve.scheduling import calibration

_MODEL = ("namespace", "modelservice", "model")
_CLASS = (*_MODEL, "slo_class")

_TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60)
_TPOT_BUCKETS = (0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.5, 1)
_QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 15, 30, 60)


@dataclass(frozen=True)
class ModelLabels:
    """Where a model comes from: its ModelService (empty for a static list) and the client's id."""

    namespace: str
    modelservice: str
    model: str

    def with_class(self, slo_class: str) -> tuple[str, str, str, str]:
        return (self.namespace, self.modelservice, self.model, slo_class)

    def values(self) -> tuple[str, str, str]:
        return (self.namespace, self.modelservice, self.model)


class ClassSeries:
    """The series of one model and class, looked up once: finding a child by its label values
    takes a lock and a tuple of strings per series, several times per request otherwise."""

    def __init__(self, owner: GatewayMetrics, labels: tuple[str, str, str, str]) -> None:
        self.labels = labels
        self.requests = owner.requests.labels(*labels)
        self.admitted = owner.admitted.labels(*labels)
        self.attained = owner.attained.labels(*labels)
        self.retried = owner.retried.labels(*labels)
        self.output_tokens = owner.output_tokens.labels(*labels)
        self.prompt_tokens = owner.prompt_tokens.labels(*labels)
        self.ttft = owner.ttft.labels(*labels)
        self.tpot = owner.tpot.labels(*labels)
        self.queue_time = owner.queue_time.labels(*labels)
        self._owner = owner
        self._finished: dict[str, Counter] = {}

    def rejected(self, reason: str) -> Counter:
        return self._owner.rejected.labels(*self.labels, reason)

    def rejected_after_admission(self, reason: str) -> Counter:
        return self._owner.rejected_after_admission.labels(*self.labels, reason)

    def finished(self, outcome: str) -> Counter:
        child = self._finished.get(outcome)
        if child is None:
            child = self._finished[outcome] = self._owner.finished.labels(*self.labels, outcome)
        return child


class GatewayMetrics:
    """Every series the gateway exports, registered in its own registry."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str, str], ClassSeries] = {}
        # The `_created` series double the page and nothing reads them (a process-wide switch).
        disable_created: Any = prometheus_client.disable_created_metrics
        disable_created()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "sloserve_requests", "Requests received and classified.", _CLASS, registry=r
        )
        self.admitted = Counter(
            "sloserve_requests_admitted",
            "Requests the TTFT guard let into the queue.",
            _CLASS,
            registry=r,
        )
        self.rejected = Counter(
            "sloserve_requests_rejected",
            "Requests refused, by reason.",
            (*_CLASS, "reason"),
            registry=r,
        )
        self.rejected_after_admission = Counter(
            "sloserve_requests_rejected_after_admission",
            "Requests refused after the guard had admitted them (a re-check in the queue, or a "
            "retry that could not be placed in time), by reason; a part of the rejected.",
            (*_CLASS, "reason"),
            registry=r,
        )
        self.finished = Counter(
            "sloserve_requests_finished",
            "Admitted requests that ended, by outcome (served, failed, cancelled, client_error).",
            (*_CLASS, "outcome"),
            registry=r,
        )
        self.attained = Counter(
            "sloserve_requests_attained",
            "Served requests that met both their TTFT and TPOT targets.",
            _CLASS,
            registry=r,
        )
        self.retried = Counter(
            "sloserve_requests_retried",
            "Times a request was sent to another engine after one failed before its first byte.",
            _CLASS,
            registry=r,
        )
        self.output_tokens = Counter(
            "sloserve_output_tokens", "Tokens streamed to clients.", _CLASS, registry=r
        )
        self.prompt_tokens = Counter(
            "sloserve_prompt_tokens",
            "Prompt tokens of the requests received and classified, every member of a batch "
            "prompt (exact when the request sends token ids or the model's tokenizer counts "
            "them, else the gateway's estimate from its characters).",
            _CLASS,
            registry=r,
        )
        self.prompt_counts = Counter(
            "sloserve_prompt_token_counts",
            "Requests whose prompt tokens were counted, by method: token_ids (sent by the "
            "client), tokenizer (the model's own, chat template applied) or estimate "
            "(characters / chars_per_token: the model names no tokenizer, or it is not loaded).",
            (*_MODEL, "method"),
            registry=r,
        )
        self._prompt_count_children: dict[tuple[str, str, str, str], Counter] = {}
        self._calibrated_engines: dict[ModelLabels, set[str]] = {}
        self.latency_factor = Gauge(
            "sloserve_latency_model_factor",
            "Online calibration: the factor on the profile's prefill or decode-step times "
            "(phase) of the model the guards and routing predict with; engine empty for the "
            "model's, else that engine's own.",
            (*_MODEL, "engine", "phase"),
            registry=r,
        )
        self.latency_error = Gauge(
            "sloserve_latency_model_error",
            "Online calibration: recent mean |ln(observed / predicted)| of the calibrated "
            "model, by phase; engine empty for the model's, else that engine's own.",
            (*_MODEL, "engine", "phase"),
            registry=r,
        )
        self.latency_bias = Gauge(
            "sloserve_latency_model_bias",
            "Online calibration: recent mean ln(observed / predicted) of the calibrated model "
            "(above 0: slower than predicted), by phase.",
            (*_MODEL, "engine", "phase"),
            registry=r,
        )
        self.latency_drifting = Gauge(
            "sloserve_latency_model_drifting",
            "1 when the calibrated model's bias is beyond the drift threshold after warm-up "
            "(the engines' speed moved from what the model holds), else 0.",
            (*_MODEL, "engine", "phase"),
            registry=r,
        )
        self.latency_observations = Gauge(
            "sloserve_latency_model_observations",
            "Observations online calibration has taken, by phase and source (engine: the "
            "engines' own metrics; stream: requests the gateway relayed).",
            (*_MODEL, "phase", "source"),
            registry=r,
        )
        self.ttft = Histogram(
            "sloserve_ttft_seconds",
            "Time to first token, measured at the gateway from arrival.",
            _CLASS,
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.tpot = Histogram(
            "sloserve_tpot_seconds",
            "Time per output token after the first, per request.",
            _CLASS,
            buckets=_TPOT_BUCKETS,
            registry=r,
        )
        self.queue_time = Histogram(
            "sloserve_queue_time_seconds",
            "Time from arrival to dispatch to an engine.",
            _CLASS,
            buckets=_QUEUE_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "sloserve_queue_depth",
            "Requests waiting in the least-deadline-first queue.",
            _MODEL,
            registry=r,
        )
        self.engine_inflight = Gauge(
            "sloserve_engine_inflight_requests",
            "Requests the gateway has running on each engine.",
            (*_MODEL, "engine"),
            registry=r,
        )
        self.slo_target = Gauge(
            "sloserve_slo_target_seconds",
            "The class's target; objective is ttft or tpot.",
            (*_CLASS, "objective"),
            registry=r,
        )
        self.tenant_reload_failures = Counter(
            "sloserve_tenants_reload_failures",
            "Times the tenants file changed but could not be loaded (the previous tenants stay).",
            registry=r,
        )

    def series(self, labels: tuple[str, str, str, str]) -> ClassSeries:
        """The series of a model and class (labels as `ModelLabels.with_class` gives them)."""
        found = self._series.get(labels)
        if found is None:
            found = self._series[labels] = ClassSeries(self, labels)
        return found

    def publish_targets(
        self, labels: ModelLabels, *, slo_class: str, ttft_s: float, tpot_s: float
    ) -> None:
        self.slo_target.labels(*labels.with_class(slo_class), "ttft").set(ttft_s)
        self.slo_target.labels(*labels.with_class(slo_class), "tpot").set(tpot_s)

    def prompt_count(self, labels: ModelLabels, method: str) -> Counter:
        """The counter of prompts counted by `method` for a model (looked up once)."""
        key = (*labels.values(), method)
        child = self._prompt_count_children.get(key)
        if child is None:
            child = self._prompt_count_children[key] = self.prompt_counts.labels(*key)
        return child

    def publish_calibration(
        self,
        labels: ModelLabels,
        *,
        model_state: calibration.CalibrationState,
        engine_states: Mapping[str, calibration.CalibrationState],
        observations: Mapping[tuple[Any, Any], int],
    ) -> None:
        """A model's calibrated latency model and its error, as of now (an engine no longer
        calibrated loses its series)."""
        published = self._calibrated_engines.setdefault(labels, set())
        for engine in published - engine_states.keys():
            for phase in ("prefill", "decode"):
                for gauge in (
                    self.latency_factor,
                    self.latency_error,
                    self.latency_bias,
                    self.latency_drifting,
                ):
                    _remove(gauge, *labels.values(), engine, phase)
        published.clear()
        published.update(engine_states)
        for engine, state in (("", model_state), *engine_states.items()):
            for phase, factor in (("prefill", state.prefill), ("decode", state.decode)):
                series = (*labels.values(), engine, phase)
                self.latency_factor.labels(*series).set(factor.factor)
                self.latency_error.labels(*series).set(factor.mean_abs_log_error)
                self.latency_bias.labels(*series).set(factor.mean_log_error)
                self.latency_drifting.labels(*series).set(1.0 if factor.drifting else 0.0)
        for (phase, source), count in observations.items():
            self.latency_observations.labels(*labels.values(), phase, source).set(count)

    def publish_load(
        self, labels: ModelLabels, *, queued: int, inflight: Mapping[str, int]
    ) -> None:
        """A model's queue depth and requests in flight per engine, as of now (set when the
        metrics are scraped)."""
        self.queue_depth.labels(*labels.values()).set(queued)
        for engine, count in inflight.items():
            self.engine_inflight.labels(*labels.values(), engine).set(count)

    def forget_model(self, labels: ModelLabels, *, classes: list[str], engines: list[str]) -> None:
        """Drop the gauges of a model that is gone, so that it does not linger at its last value."""
        for name in classes:
            for objective in ("ttft", "tpot"):
                _remove(self.slo_target, *labels.with_class(name), objective)
        _remove(self.queue_depth, *labels.values())
        for engine in engines:
            _remove(self.engine_inflight, *labels.values(), engine)
        for engine in ("", *engines, *self._calibrated_engines.pop(labels, set())):
            for phase in ("prefill", "decode"):
                for gauge in (
                    self.latency_factor,
                    self.latency_error,
                    self.latency_bias,
                    self.latency_drifting,
                ):
                    _remove(gauge, *labels.values(), engine, phase)
                for source in ("engine", "stream"):
                    _remove(self.latency_observations, *labels.values(), phase, source)


def _remove(metric: Gauge, *values: str) -> None:
    try:
        metric.remove(*values)
    except KeyError:
        return
