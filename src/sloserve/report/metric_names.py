"""The metric names the report reads: the gateway's (docs/metrics.md is the contract) and vLLM's.

Kept apart from the gateway's own code on purpose: the report reads whatever a gateway exports, so
it depends on the published names, not on the gateway's implementation.
"""

from __future__ import annotations

REQUESTS = "sloserve_requests_total"
ADMITTED = "sloserve_requests_admitted_total"
REJECTED = "sloserve_requests_rejected_total"
FINISHED = "sloserve_requests_finished_total"
ATTAINED = "sloserve_requests_attained_total"
OUTPUT_TOKENS = "sloserve_output_tokens_total"
PROMPT_TOKENS = "sloserve_prompt_tokens_total"
TTFT = "sloserve_ttft_seconds"
TPOT = "sloserve_tpot_seconds"
QUEUE_DEPTH = "sloserve_queue_depth"
ENGINE_INFLIGHT = "sloserve_engine_inflight_requests"
SLO_TARGET = "sloserve_slo_target_seconds"

VLLM_RUNNING = "vllm:num_requests_running"
VLLM_WAITING = "vllm:num_requests_waiting"
VLLM_KV_CACHE_USAGE = "vllm:kv_cache_usage_perc"

#: Other spellings of vLLM's gauges. prometheus_client (0.2x) writes the colon of a name as "_" in
#: the sample lines of its OpenMetrics output, the format Prometheus asks for first, so a
#: Prometheus scraping vLLM (or the engine simulator) may store `vllm_num_requests_running`.
ALIASES: dict[str, tuple[str, ...]] = {
    VLLM_RUNNING: ("vllm_num_requests_running",),
    VLLM_WAITING: ("vllm_num_requests_waiting",),
    VLLM_KV_CACHE_USAGE: ("vllm_kv_cache_usage_perc",),
}
_CANONICAL = {alias: name for name, aliases in ALIASES.items() for alias in aliases}

#: Counters whose increase over the window the report needs.
COUNTERS: tuple[str, ...] = (
    REQUESTS,
    ADMITTED,
    REJECTED,
    FINISHED,
    ATTAINED,
    OUTPUT_TOKENS,
    PROMPT_TOKENS,
)

#: Histograms (their `_bucket` series) whose bucket increases give the latency distributions.
HISTOGRAMS: tuple[str, ...] = (TTFT, TPOT)

#: Gauges summarised over the window (last value, mean, maximum).
GAUGES: tuple[str, ...] = (
    SLO_TARGET,
    QUEUE_DEPTH,
    ENGINE_INFLIGHT,
    VLLM_RUNNING,
    VLLM_WAITING,
    VLLM_KV_CACHE_USAGE,
)

#: Counters sampled at every step of the window for the attainment-over-time chart: arrivals,
#: and the requests that ended in the step (rejected, finished) and of those the attained.
TIMELINE_COUNTERS: tuple[str, ...] = (REQUESTS, REJECTED, FINISHED, ATTAINED)

#: Refusals and outcomes that judge the request itself, not the system: a prompt beyond the
#: context, a class the tenant may not use, an engine's 4xx. No scheduling could have served
#: them, so attainment leaves them out.
CLIENT_ERROR_REASONS: frozenset[str] = frozenset({"prompt_too_long", "forbidden_class"})
CLIENT_ERROR_OUTCOME = "client_error"

# Label names of the gateway's series.
CLUSTER_LABEL = "cluster"
NAMESPACE_LABEL = "namespace"
MODELSERVICE_LABEL = "modelservice"
MODEL_LABEL = "model"
CLASS_LABEL = "slo_class"
REASON_LABEL = "reason"
OUTCOME_LABEL = "outcome"
OBJECTIVE_LABEL = "objective"
ENGINE_LABEL = "engine"
BUCKET_LABEL = "le"
# vLLM's label for the served model, and the labels Prometheus (or the scraper) adds per target.
VLLM_MODEL_LABEL = "model_name"
INSTANCE_LABEL = "instance"
POD_LABEL = "pod"


def spellings(name: str) -> tuple[str, ...]:
    """Every name the series `name` may be stored under, `name` first."""
    return (name, *ALIASES.get(name, ()))


def canonical(name: str) -> str:
    """The report's name for a series stored under `name` (itself unless it is an alias)."""
    return _CANONICAL.get(name, name)


def bucket_series(histogram: str) -> str:
    """The name of a histogram's cumulative bucket series."""
    return f"{histogram}_bucket"
