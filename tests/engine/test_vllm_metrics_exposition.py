"""/metrics under vLLM's names with its `engine` and `model_name` labels."""

from __future__ import annotations

from prometheus_client import parser
from server_helpers import MODEL, in_process, settings

from sloserve.engine.server import metrics


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_every_vllm_metric_is_exposed_with_the_model_name() -> None:
    async with in_process(settings()) as (client, _):
        await client.post(
            "/v1/completions", json={"model": MODEL, "prompt": "a b", "max_tokens": 3}
        )
        text = (await client.get("/metrics")).text
    names = {name for name, _ in _samples(text)}
    for metric in metrics.METRIC_NAMES:
        family = metric.removesuffix("_total")
        assert any(n == metric or n.startswith(family) for n in names), metric
    assert f'model_name="{MODEL}"' in text


async def test_counters_and_histograms_count_the_requests_tokens() -> None:
    async with in_process(settings()) as (client, _):
        for _ in range(2):
            await client.post(
                "/v1/completions", json={"model": MODEL, "prompt": "a b c", "max_tokens": 4}
            )
        samples = _samples((await client.get("/metrics")).text)
    label = (("engine", "0"), ("model_name", MODEL))
    assert samples["vllm:prompt_tokens_total", label] == 6
    assert samples["vllm:generation_tokens_total", label] == 8
    assert samples["vllm:time_to_first_token_seconds_count", label] == 2
    assert samples["vllm:inter_token_latency_seconds_count", label] == 6
    assert samples["vllm:e2e_request_latency_seconds_count", label] == 2
    assert samples["vllm:request_queue_time_seconds_count", label] == 2
    success = (("engine", "0"), ("finished_reason", "length"), ("model_name", MODEL))
    assert samples["vllm:request_success_total", success] == 2
    assert samples["vllm:prefix_cache_queries_total", label] == 6
    assert samples["vllm:prefix_cache_hits_total", label] == 0
    assert samples["vllm:num_requests_running", label] == 0
    assert samples["vllm:kv_cache_usage_perc", label] == 0


async def test_every_finished_reason_has_a_series_before_any_request_ends() -> None:
    async with in_process(settings()) as (client, _):
        samples = _samples((await client.get("/metrics")).text)
    reasons = {
        dict(labels)["finished_reason"]
        for name, labels in samples
        if name == "vllm:request_success_total"
    }
    assert reasons == set(metrics.FINISHED_REASONS)


async def test_the_kv_cache_size_is_published_as_vllm_publishes_it() -> None:
    server_settings = settings()
    async with in_process(server_settings) as (client, _):
        text = (await client.get("/metrics")).text
    info = next(dict(labels) for name, labels in _samples(text) if name == "vllm:cache_config_info")
    engine = server_settings.engine
    assert info["num_gpu_blocks"] == str(engine.num_gpu_blocks)
    assert info["block_size"] == str(engine.block_size)
    assert info["engine"] == "0"


async def test_a_repeated_prompt_is_a_prefix_cache_hit_in_the_counters() -> None:
    prompt = " ".join(f"w{index}" for index in range(40))
    async with in_process(settings()) as (client, _):
        for _ in range(2):
            await client.post(
                "/v1/completions", json={"model": MODEL, "prompt": prompt, "max_tokens": 2}
            )
        samples = _samples((await client.get("/metrics")).text)
    label = (("engine", "0"), ("model_name", MODEL))
    assert samples["vllm:prefix_cache_queries_total", label] == 80
    # 40 tokens: two full blocks of 16, found again by the second request
    assert samples["vllm:prefix_cache_hits_total", label] == 32
