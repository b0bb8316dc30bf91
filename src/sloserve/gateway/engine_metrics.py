"""What an engine says about its own load, read from its Prometheus `/metrics` (vLLM's names).

Only three gauges matter to the gateway, so the text is scanned line by line rather than parsed
whole: an engine's page carries long histograms and is scraped every second per engine.
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
_WANTED = (RUNNING, WAITING, KV_CACHE_USAGE, KV_CACHE_USAGE_OLD)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class EngineLoad:
    """Requests running and waiting on an engine, its KV-cache use (fraction 0..1) and its
    KV-cache size in tokens; None where the engine does not say."""

    running: int
    waiting: int
    kv_cache_usage: float | None
    kv_capacity_tokens: int | None = None

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
