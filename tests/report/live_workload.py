"""A small real metrics endpoint for the live tests: a gateway's series (names and labels as in
docs/metrics.md) and one engine's vLLM gauges, served by prometheus_client on free loopback ports.

The standard class's series exist at zero before the workload; the interactive class's appear with
its first requests, as the gateway creates them (PromQL's increase() misses such a series' first
value; the report must not). `apply_workload` then adds a known burst of traffic.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

NAMESPACE, MODELSERVICE, MODEL = "team-a", "llama-8b", "meta-llama/Llama-3.1-8B-Instruct"
TARGETS = {"interactive": (0.5, 0.05), "standard": (3.0, 0.03)}
PRECREATED_CLASSES = ("standard",)
REASONS = ("ttft_unattainable", "tpot_unattainable", "queue_full", "no_engines")
OUTCOMES = ("served", "failed", "cancelled")
TTFT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 3.0, 15.0)
TPOT_BUCKETS = (0.01, 0.03, 0.05, 0.1)

# The workload and what it must give.
INTERACTIVE_TTFTS = [0.2] * 20 + [0.4] * 10 + [0.8] * 4
INTERACTIVE_TPOTS = [0.02] * 30 + [0.07] * 4
STANDARD_TTFTS = [2.0] * 20
STANDARD_TPOTS = [0.02] * 20
EXPECTED = {
    "interactive": {"requests": 40, "admitted": 34, "rejected": 6, "attained": 30},
    "standard": {"requests": 20, "admitted": 20, "rejected": 0, "attained": 19},
}
ENGINE_RUNNING, ENGINE_KV_USAGE, QUEUE_DEPTH = 3.0, 0.42, 2.0


@dataclasses.dataclass
class GatewaySeries:
    requests: Counter
    admitted: Counter
    rejected: Counter
    finished: Counter
    attained: Counter
    ttft: Histogram
    tpot: Histogram


def _gateway_registry() -> tuple[CollectorRegistry, GatewaySeries]:
    registry = CollectorRegistry()
    labels = ["namespace", "modelservice", "model", "slo_class"]
    series = GatewaySeries(
        requests=Counter("sloserve_requests", "", labels, registry=registry),
        admitted=Counter("sloserve_requests_admitted", "", labels, registry=registry),
        rejected=Counter("sloserve_requests_rejected", "", [*labels, "reason"], registry=registry),
        finished=Counter("sloserve_requests_finished", "", [*labels, "outcome"], registry=registry),
        attained=Counter("sloserve_requests_attained", "", labels, registry=registry),
        ttft=Histogram(
            "sloserve_ttft_seconds", "", labels, buckets=TTFT_BUCKETS, registry=registry
        ),
        tpot=Histogram(
            "sloserve_tpot_seconds", "", labels, buckets=TPOT_BUCKETS, registry=registry
        ),
    )
    target = Gauge("sloserve_slo_target_seconds", "", [*labels, "objective"], registry=registry)
    queue = Gauge("sloserve_queue_depth", "", labels[:3], registry=registry)
    queue.labels(NAMESPACE, MODELSERVICE, MODEL).set(QUEUE_DEPTH)
    for name, (ttft, tpot) in TARGETS.items():
        key = (NAMESPACE, MODELSERVICE, MODEL, name)
        target.labels(*key, "ttft").set(ttft)
        target.labels(*key, "tpot").set(tpot)
    for name in PRECREATED_CLASSES:
        key = (NAMESPACE, MODELSERVICE, MODEL, name)
        for counter in (series.requests, series.admitted, series.attained):
            counter.labels(*key)
        for reason in REASONS:
            series.rejected.labels(*key, reason)
        for outcome in OUTCOMES:
            series.finished.labels(*key, outcome)
        series.ttft.labels(*key)
        series.tpot.labels(*key)
    return registry, series


def _engine_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Gauge("vllm:num_requests_running", "", ["model_name"], registry=registry).labels(MODEL).set(
        ENGINE_RUNNING
    )
    Gauge("vllm:num_requests_waiting", "", ["model_name"], registry=registry).labels(MODEL).set(0)
    Gauge("vllm:kv_cache_usage_perc", "", ["model_name"], registry=registry).labels(MODEL).set(
        ENGINE_KV_USAGE
    )
    return registry


def apply_workload(series: GatewaySeries) -> None:
    """The burst of traffic whose figures EXPECTED states."""
    for name, ttfts, tpots in (
        ("interactive", INTERACTIVE_TTFTS, INTERACTIVE_TPOTS),
        ("standard", STANDARD_TTFTS, STANDARD_TPOTS),
    ):
        key = (NAMESPACE, MODELSERVICE, MODEL, name)
        expected = EXPECTED[name]
        series.requests.labels(*key).inc(expected["requests"])
        series.admitted.labels(*key).inc(expected["admitted"])
        series.attained.labels(*key).inc(expected["attained"])
        if expected["rejected"]:
            series.rejected.labels(*key, "ttft_unattainable").inc(expected["rejected"])
        series.finished.labels(*key, "served").inc(expected["admitted"])
        for value in ttfts:
            series.ttft.labels(*key).observe(value)
        for value in tpots:
            series.tpot.labels(*key).observe(value)


@dataclasses.dataclass(frozen=True)
class Endpoints:
    gateway_port: int
    engine_port: int
    series: GatewaySeries


@contextlib.contextmanager
def serve() -> Iterator[Endpoints]:
    """Serves the gateway's and the engine's metrics on free loopback ports."""
    gateway_registry, series = _gateway_registry()
    gateway_server, gateway_thread = start_http_server(0, "127.0.0.1", registry=gateway_registry)
    engine_server, engine_thread = start_http_server(0, "127.0.0.1", registry=_engine_registry())
    try:
        yield Endpoints(
            gateway_port=gateway_server.server_address[1],
            engine_port=engine_server.server_address[1],
            series=series,
        )
    finally:
        for server, thread in ((gateway_server, gateway_thread), (engine_server, engine_thread)):
            server.shutdown()
            server.server_close()
            thread.join()
