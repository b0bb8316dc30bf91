"""What an engine says about its own load and speed, read from its Prometheus `/metrics` (vLLM's
names).

Three gauges (requests running and waiting, KV-cache use) and, for online calibration, the
running totals of a few histograms and counters (time to first token, inter-token latency, prompt
and generated tokens, tokens per engine step) matter to the gateway, so the text is scanned line by
line rather than parsed whole: an engine's page carries long histograms and is scraped every
second per engine. Only the `_sum` and `_count` lines of a histogram are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
KV_CACHE_USAGE = "vllm:kv_cache_usage_perc"
# vLLM releases before 0.10 exported the same fraction under this name.
KV_CACHE_USAGE_OLD = "vllm:gpu_cache_usage_perc"
# vLLM's info gauge whose labels give the KV-cache size: blocks times tokens per block.
CACHE_CONFIG = "vllm:cache_config_info"
# Calibration's signals: histograms (read as their _sum and _count) and counters.
TTFT = "vllm:time_to_first_token_seconds"
INTER_TOKEN = "vllm:inter_token_latency_seconds"
# vLLM releases before 0.10 exported inter-token latency under this name.
INTER_TOKEN_OLD = "vllm:time_per_output_token_seconds"
ITERATION_TOKENS = "vllm:iteration_tokens_total"
PROMPT_TOKENS = "vllm:prompt_tokens_total"
GENERATION_TOKENS = "vllm:generation_tokens_total"
PREFIX_CACHE_HITS = "vllm:prefix_cache_hits_total"
_HISTOGRAMS = (TTFT, INTER_TOKEN, INTER_TOKEN_OLD, ITERATION_TOKENS)
_WANTED = frozenset(
    (
        RUNNING,
        WAITING,
        KV_CACHE_USAGE,
        KV_CACHE_USAGE_OLD,
        PROMPT_TOKENS,
        GENERATION_TOKENS,
        PREFIX_CACHE_HITS,
        *(f"{name}{part}" for name in _HISTOGRAMS for part in ("_sum", "_count")),
    )
)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class EngineTimings:
    """Running totals since the engine started, from its own histograms and counters: time to
    first token (sum of seconds, requests), inter-token latency (sum of seconds, intervals),
    prompt and generated tokens, prompt tokens found in the prefix cache, and tokens per engine
    step (sum, steps; None when the engine does not publish them)."""

    ttft_sum_s: float
    ttft_count: float
    inter_token_sum_s: float
    inter_token_count: float
    prompt_tokens: float
    generation_tokens: float
    iteration_tokens_sum: float | None = None
    iteration_steps: float | None = None
    prefix_cache_hits: float = 0.0


@dataclass(frozen=True)
class EngineLoad:
    """Requests running and waiting on an engine, its KV-cache use (fraction 0..1) and its
    KV-cache size in tokens; None where the engine does not say. `timings`: its running totals
    for calibration, None when it publishes no latency histograms."""

    running: int
    waiting: int
    kv_cache_usage: float | None
    kv_capacity_tokens: int | None = None
    timings: EngineTimings | None = None

    def kv_free_tokens(self) -> int | None:
        if self.kv_cache_usage is None or self.kv_capacity_tokens is None:
            return None
        return max(0, round((1.0 - self.kv_cache_usage) * self.kv_capacity_tokens))


def parse_engine_metrics(text: str) -> EngineLoad:
    """Sum each gauge over its series (one per served model name); raises ValueError if the page
    has neither request gauge, which means it is not a vLLM-compatible engine."""
    totals: dict[str, float] = {}
    capacity: int | None = None
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        if line.startswith(CACHE_CONFIG + "{"):
            capacity = _kv_capacity(line)
            continue
        name_end = len(line)
        for delimiter in ("{", " "):
            index = line.find(delimiter)
            if 0 <= index < name_end:
                name_end = index
        name = line[:name_end]
        if name not in _WANTED:
            continue
        # The sample is the first field after the labels; a timestamp may follow it.
        after_labels = line.rsplit("}", 1)[1] if "}" in line else line[name_end:]
        try:
            value = float(after_labels.split()[0])
        except (ValueError, IndexError):
            continue
        totals[name] = totals.get(name, 0.0) + value
    if RUNNING not in totals and WAITING not in totals:
        raise ValueError(f"no {RUNNING} or {WAITING} in the engine's metrics")
    kv = totals.get(KV_CACHE_USAGE, totals.get(KV_CACHE_USAGE_OLD))
    return EngineLoad(
        running=round(totals.get(RUNNING, 0.0)),
        waiting=round(totals.get(WAITING, 0.0)),
        kv_cache_usage=kv,
        kv_capacity_tokens=capacity,
        timings=_timings(totals),
    )


def _timings(totals: dict[str, float]) -> EngineTimings | None:
    inter_token = INTER_TOKEN if f"{INTER_TOKEN}_count" in totals else INTER_TOKEN_OLD
    if f"{TTFT}_count" not in totals and f"{inter_token}_count" not in totals:
        return None
    steps = totals.get(f"{ITERATION_TOKENS}_count")
    return EngineTimings(
        ttft_sum_s=totals.get(f"{TTFT}_sum", 0.0),
        ttft_count=totals.get(f"{TTFT}_count", 0.0),
        inter_token_sum_s=totals.get(f"{inter_token}_sum", 0.0),
        inter_token_count=totals.get(f"{inter_token}_count", 0.0),
        prompt_tokens=totals.get(PROMPT_TOKENS, 0.0),
        generation_tokens=totals.get(GENERATION_TOKENS, 0.0),
        iteration_tokens_sum=None if steps is None else totals.get(f"{ITERATION_TOKENS}_sum"),
        iteration_steps=steps,
        prefix_cache_hits=totals.get(PREFIX_CACHE_HITS, 0.0),
    )


def _kv_capacity(line: str) -> int | None:
    labels = dict(_LABEL.findall(line))
    try:
        return int(labels["num_gpu_blocks"]) * int(labels["block_size"])
    except (KeyError, ValueError):
        return None


async def max_model_len(
    client: httpx.AsyncClient, engine_url: str, model: str, *, timeout_s: float
) -> int | None:
    """The context limit the engine serves `model` with, from its `/v1/models` (vLLM lists
    `max_model_len` for each model); None when it does not say. Raises httpx.HTTPError when the
    engine cannot be asked."""
    response = await client.get(f"{engine_url}/v1/models", timeout=timeout_s)
    response.raise_for_status()
    try:
        listed = response.json().get("data") or []
    except (ValueError, AttributeError):
        return None
    limits = [
        entry.get("max_model_len")
        for entry in listed
        if isinstance(entry, dict) and entry.get("id") in (model, None)
    ]
    if not limits and len(listed) == 1 and isinstance(listed[0], dict):
        # a single served name other than the gateway's id (--served-model-name)
        limits = [listed[0].get("max_model_len")]
    found = [limit for limit in limits if isinstance(limit, int) and limit > 1]
    return min(found) if found else None


async def scrape(client: httpx.AsyncClient, engine_url: str, *, timeout_s: float) -> EngineLoad:
    """Fetch and parse `<engine_url>/metrics`; raises httpx.HTTPError or ValueError on failure."""
    response = await client.get(f"{engine_url}/metrics", timeout=timeout_s)
    response.raise_for_status()
    return parse_engine_metrics(response.text)
