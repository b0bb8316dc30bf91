"""The computed report: the records every renderer reads and the JSON schema the report publishes.

The JSON form (`Report.model_dump_json()`) is versioned by `schema_version`; docs/report.md
documents every field. Counts are floats because a counter that restarted inside the window is
read with Prometheus' extrapolating `increase()`; renderers round them for display. A figure that
cannot be known (attainment of a class without requests, a quantile of an empty histogram) is
None, never zero.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Final = "sloserve.io/report/v1"

Objective = Literal["ttft", "tpot"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Window(_Record):
    start: datetime = Field(description="Start of the window (UTC).")
    end: datetime = Field(description="End of the window (UTC).")
    seconds: float = Field(description="Length of the window in seconds.")
    step_seconds: float = Field(description="Spacing of the timeline's points in seconds.")


class SourceInfo(_Record):
    kind: Literal["prometheus", "gateways"] = Field(
        description="prometheus: read from a Prometheus server; gateways: scraped directly."
    )
    urls: list[str] = Field(description="The Prometheus base URL, or the metrics URLs scraped.")


class Counts(_Record):
    """Request counts over the window and the figures derived from them."""

    requests: float = Field(description="Requests received and classified.")
    admitted: float = Field(description="Requests the TTFT guard let into the queue.")
    rejected: dict[str, float] = Field(description="Requests refused, by reason.")
    rejected_total: float = Field(description="Sum of `rejected`.")
    finished: dict[str, float] = Field(description="Admitted requests that ended, by outcome.")
    client_errors: float = Field(
        description="Requests that ended as client errors (a prompt beyond the context, a "
        "forbidden class, an engine's 4xx), left out of attainment."
    )
    attained: float = Field(description="Served requests that met both TTFT and TPOT targets.")
    output_tokens: float = Field(description="Tokens streamed to clients.")
    prompt_tokens: float = Field(
        default=0.0, description="Prompt tokens of the requests received (0 from older gateways)."
    )
    attainment: float | None = Field(
        description="attained / (rejected + finished - client_errors): over the requests that "
        "ended in the window, rejections counting as misses; null when none ended."
    )
    goodput_rps: float = Field(description="attained / window seconds.")


class Quantile(_Record):
    quantile: float = Field(description="0.5, 0.9 or 0.99.")
    seconds: float = Field(description="The quantile, interpolated within its bucket.")
    lower_bound: bool = Field(
        description="True when the quantile lies above the highest finite bucket: the true value "
        "is greater than `seconds`."
    )


class Bucket(_Record):
    le: float | None = Field(description="Upper bound in seconds; null for the +Inf bucket.")
    count: float = Field(description="Observations in this bucket alone (not cumulative).")


class Latency(_Record):
    """One objective's latency distribution of one class over the window."""

    objective: Objective
    target_seconds: float | None = Field(
        description="The class's target from sloserve_slo_target_seconds; null if not exported."
    )
    observations: float = Field(description="Requests measured.")
    quantiles: list[Quantile] = Field(description="p50, p90, p99; empty without observations.")
    within_target: float | None = Field(
        description="Share of observations at or below the target, interpolated within buckets; "
        "null without observations or without a target."
    )
    buckets: list[Bucket] = Field(description="The distribution, bounds ascending.")

    def quantile(self, q: float) -> Quantile | None:
        return next((item for item in self.quantiles if item.quantile == q), None)


class TimelinePoint(_Record):
    """One step of the window. A request arrives in one step and may end in a later one, so the
    step's attainment is over the requests that ended in it, which bounds it by 1."""

    time: datetime = Field(description="End of the step (UTC).")
    requests: float = Field(description="Requests received during the step.")
    ended: float = Field(description="Requests rejected or finished during the step.")
    attained: float = Field(description="Requests that ended during the step within target.")
    attainment: float | None = Field(description="attained / ended; null when none ended.")


class ClassReport(_Record):
    name: str = Field(description="The SLO class.")
    counts: Counts
    ttft: Latency
    tpot: Latency
    timeline: list[TimelinePoint] = Field(description="Attainment per step, oldest first.")


class EngineReport(_Record):
    """One engine's load over the window, from vLLM's metrics."""

    name: str = Field(description="The engine's pod, or its scrape address.")
    model: str = Field(description="vLLM's model_name label.")
    running_mean: float | None = Field(description="Mean of vllm:num_requests_running.")
    running_max: float | None = Field(description="Maximum of vllm:num_requests_running.")
    waiting_mean: float | None = Field(description="Mean of vllm:num_requests_waiting.")
    kv_cache_usage_mean: float | None = Field(
        description="Mean of vllm:kv_cache_usage_perc (a fraction, 1 = full)."
    )
    kv_cache_usage_max: float | None = Field(description="Maximum of vllm:kv_cache_usage_perc.")


class Utilization(_Record):
    """Load of a group of engines over the window."""

    engines: int = Field(description="Engines that exported vLLM metrics in the window.")
    running_mean: float | None = Field(description="Sum over engines of mean running requests.")
    waiting_mean: float | None = Field(description="Sum over engines of mean waiting requests.")
    kv_cache_usage_mean: float | None = Field(description="Mean over engines of mean KV usage.")
    kv_cache_usage_max: float | None = Field(description="Highest KV usage of any engine.")
    gateway_inflight_mean: float | None = Field(
        description="Mean requests the gateways had running on these engines (their own count)."
    )
    queue_depth_mean: float | None = Field(description="Mean requests waiting in gateway queues.")
    queue_depth_max: float | None = Field(description="Maximum requests waiting in gateway queues.")


class ModelServiceReport(_Record):
    namespace: str
    name: str = Field(description="The ModelService; empty for a gateway's static engine list.")
    model: str = Field(description="The model id clients send.")
    counts: Counts
    classes: list[ClassReport]
    utilization: Utilization
    engines: list[EngineReport]


class NamespaceReport(_Record):
    name: str
    counts: Counts
    modelservices: list[ModelServiceReport]


class ClusterReport(_Record):
    name: str = Field(description="The series' `cluster` label, else the --cluster name.")
    counts: Counts
    utilization: Utilization
    namespaces: list[NamespaceReport]


class Report(_Record):
    schema_version: Literal["sloserve.io/report/v1"] = SCHEMA_VERSION
    generated_at: datetime
    source: SourceInfo
    window: Window
    clusters: list[ClusterReport]
    warnings: list[str] = Field(description="Things the reader should know about the numbers.")

    @property
    def has_series(self) -> bool:
        """Whether any gateway series was found in the window."""
        return bool(self.clusters)

    @property
    def total_requests(self) -> float:
        return sum(cluster.counts.requests for cluster in self.clusters)
