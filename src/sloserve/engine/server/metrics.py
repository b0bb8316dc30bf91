"""Prometheus metrics under vLLM's names, labelled as vLLM labels them: `engine` (the engine
core's index, always "0" here: one engine core per server) and `model_name`.

Gauges are read from the engine when scraped; counters and histograms are fed by the engine's
events. Histogram buckets are vLLM's. Times are the engine's (simulated) times, in seconds.
`vllm:cache_config_info` carries the KV cache's size in its labels, as vLLM's does (the gateway
reads `num_gpu_blocks` and `block_size`). Every prompt token is a prefix-cache query (counted at
the request's first token); the tokens its prefix cache supplied are hits (counted when the
request finishes, when the engine reports them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import prometheus_client
from prometheus_client import core as prometheus_core
from prometheus_client import registry as prometheus_registry

from sloserve.engine import config, core, events
from sloserve.engine.server import runner

TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
INTER_TOKEN_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
REQUEST_LATENCY_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip

#: vLLM's `finished_reason` values; every one has a series from the start, as in vLLM.
FINISHED_REASONS = ("stop", "length", "abort", "error", "repetition")
ENGINE_INDEX = "0"

METRIC_NAMES = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:cache_config_info",
    "vllm:prefix_cache_queries_total",
    "vllm:prefix_cache_hits_total",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:request_success_total",
    "vllm:num_preemptions_total",
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:e2e_request_latency_seconds",
    "vllm:request_queue_time_seconds",
)


_LABELS = ["engine", "model_name"]
_GAUGES = (
    ("vllm:num_requests_running", "Number of requests in model execution batches."),
    ("vllm:num_requests_waiting", "Number of requests waiting to be processed."),
    ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage."),
)


class _LoadGauges(prometheus_registry.Collector):
    """The gauges, computed from an engine snapshot at scrape time."""

    def __init__(self, model_name: str, snapshot: Callable[[], core.EngineSnapshot]) -> None:
        self._model_name = model_name
        self._snapshot = snapshot

    def describe(self) -> Iterator[prometheus_core.Metric]:
        for name, documentation in _GAUGES:
            yield prometheus_core.GaugeMetricFamily(name, documentation, labels=_LABELS)

    def collect(self) -> Iterator[prometheus_core.Metric]:
        load = self._snapshot()
        values = (load.num_running, load.num_waiting, load.kv_usage)
        for (name, documentation), value in zip(_GAUGES, values, strict=True):
            gauge = prometheus_core.GaugeMetricFamily(name, documentation, labels=_LABELS)
            gauge.add_metric([ENGINE_INDEX, self._model_name], float(value))
            yield gauge


class EngineMetrics:
    """The engine's metrics in their own registry (one per server, so tests can run several).
    `cache_config` holds the labels of `vllm:cache_config_info` (see `cache_config_labels`)."""

    def __init__(
        self,
        *,
        model_name: str,
        snapshot: Callable[[], core.EngineSnapshot],
        cache_config: Mapping[str, str],
    ) -> None:
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self._model_name = model_name
        self.registry.register(_LoadGauges(model_name, snapshot))
        info_labels = ["engine", *cache_config]
        prometheus_client.Gauge(
            "vllm:cache_config_info", "Information of the LLMEngine CacheConfig", info_labels,
            registry=self.registry,
        ).labels(ENGINE_INDEX, *cache_config.values()).set(1)  # fmt: skip
        labels = _LABELS
        series = (ENGINE_INDEX, model_name)
        self._prefix_queries = prometheus_client.Counter(
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.", labels,
            registry=self.registry,
        ).labels(*series)  # fmt: skip
        self._prefix_hits = prometheus_client.Counter(
            "vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
            labels, registry=self.registry,
        ).labels(*series)  # fmt: skip
        self._prompt_tokens = prometheus_client.Counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed.", labels,
            registry=self.registry,
        ).labels(*series)  # fmt: skip
        self._generation_tokens = prometheus_client.Counter(
            "vllm:generation_tokens", "Number of generation tokens processed.", labels,
            registry=self.registry,
        ).labels(*series)  # fmt: skip
        self._success = prometheus_client.Counter(
            "vllm:request_success", "Count of successfully processed requests.",
            ["engine", "finished_reason", "model_name"], registry=self.registry,
        )  # fmt: skip
        for reason in FINISHED_REASONS:
            self._success.labels(ENGINE_INDEX, reason, model_name)
        self._preemptions = prometheus_client.Counter(
            "vllm:num_preemptions", "Cumulative number of preemption from the engine.", labels,
            registry=self.registry,
        ).labels(*series)  # fmt: skip
        self._ttft = prometheus_client.Histogram(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
            labels, buckets=TTFT_BUCKETS, registry=self.registry,
        ).labels(*series)  # fmt: skip
        self._inter_token = prometheus_client.Histogram(
            "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
            labels, buckets=INTER_TOKEN_BUCKETS, registry=self.registry,
        ).labels(*series)  # fmt: skip
        self._e2e = prometheus_client.Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            labels, buckets=REQUEST_LATENCY_BUCKETS, registry=self.registry,
        ).labels(*series)  # fmt: skip
        self._queue_time = prometheus_client.Histogram(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            labels, buckets=REQUEST_LATENCY_BUCKETS, registry=self.registry,
        ).labels(*series)  # fmt: skip

    def observe(self, event: events.EngineEvent, handle: runner.RequestHandle) -> None:
        """Account for one engine event of the request behind `handle`."""
        if isinstance(event, events.FirstToken):
            self._ttft.observe(event.time - handle.arrival)
            self._prompt_tokens.inc(handle.spec.prompt_tokens)
            self._prefix_queries.inc(handle.spec.prompt_tokens)
            self._generation_tokens.inc()
        elif isinstance(event, events.Token):
            if handle.last_token_time is not None:
                self._inter_token.observe(event.time - handle.last_token_time)
            self._generation_tokens.inc()
        elif isinstance(event, events.Finished):
            self._prefix_hits.inc(event.stats.cached_tokens)
            self._success.labels(ENGINE_INDEX, handle.finish_reason, self._model_name).inc()
            self._e2e.observe(event.stats.e2e)
            self._queue_time.observe(event.stats.queue_time)
        else:
            self._preemptions.inc()

    def exposition(self) -> bytes:
        """The text exposition format of every metric."""
        return prometheus_client.generate_latest(self.registry)


def cache_config_labels(engine: config.EngineConfig) -> dict[str, str]:
    """Those labels of vLLM's `vllm:cache_config_info` the simulator has values for."""
    return {
        "block_size": str(engine.block_size),
        "cache_dtype": "auto",
        "enable_prefix_caching": str(engine.enable_prefix_caching),
        "kv_cache_size_tokens": str(engine.num_gpu_blocks * engine.block_size),
        "num_cpu_blocks": "None",
        "num_gpu_blocks": str(engine.num_gpu_blocks),
        "num_gpu_blocks_override": "None",
    }
