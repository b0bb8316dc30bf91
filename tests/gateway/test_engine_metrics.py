"""Reading an engine's load from its vLLM-named metrics."""

from __future__ import annotations

import pytest

from sloserve.gateway import engine_metrics

PAGE = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="a"} 3.0
vllm:num_requests_running{engine="0",model_name="b"} 2.0
vllm:num_requests_waiting{engine="0",model_name="a"} 4.0
vllm:kv_cache_usage_perc{engine="0",model_name="a"} 0.5
vllm:cache_config_info{block_size="16",cache_dtype="auto",num_gpu_blocks="1000"} 1.0
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="a"} 7.0
"""


def test_gauges_are_summed_over_served_model_names() -> None:
    load = engine_metrics.parse_engine_metrics(PAGE)
    assert (load.running, load.waiting, load.kv_cache_usage) == (5, 4, 0.5)


def test_free_kv_tokens_come_from_usage_and_the_cache_size() -> None:
    load = engine_metrics.parse_engine_metrics(PAGE)
    assert load.kv_capacity_tokens == 16_000
    assert load.kv_free_tokens() == 8_000


def test_the_old_kv_gauge_name_is_read_and_size_may_be_unknown() -> None:
    page = "vllm:num_requests_running 1\nvllm:gpu_cache_usage_perc 0.25\n"
    load = engine_metrics.parse_engine_metrics(page)
    assert load.kv_cache_usage == 0.25
    assert load.kv_free_tokens() is None


def test_a_page_without_request_gauges_is_not_an_engine() -> None:
    with pytest.raises(ValueError, match="vllm:num_requests_running"):
        engine_metrics.parse_engine_metrics("process_cpu_seconds_total 3\n")


TIMED_PAGE = """vllm:num_requests_running{engine="0",model_name="a"} 2.0
vllm:num_requests_waiting{engine="0",model_name="a"} 0.0
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="a"} 7.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="a"} 1.5
vllm:time_to_first_token_seconds_count{engine="0",model_name="a"} 10.0
vllm:inter_token_latency_seconds_sum{engine="0",model_name="a"} 4.0
vllm:inter_token_latency_seconds_count{engine="0",model_name="a"} 200.0
vllm:iteration_tokens_total_sum{engine="0",model_name="a"} 900.0
vllm:iteration_tokens_total_count{engine="0",model_name="a"} 120.0
vllm:prompt_tokens_total{engine="0",model_name="a"} 700.0
vllm:generation_tokens_total{engine="0",model_name="a"} 210.0
vllm:prefix_cache_hits_total{engine="0",model_name="a"} 320.0
"""


def test_latency_histograms_and_token_counters_are_read_as_running_totals() -> None:
    timings = engine_metrics.parse_engine_metrics(TIMED_PAGE).timings
    assert timings == engine_metrics.EngineTimings(
        ttft_sum_s=1.5,
        ttft_count=10.0,
        inter_token_sum_s=4.0,
        inter_token_count=200.0,
        prompt_tokens=700.0,
        generation_tokens=210.0,
        iteration_tokens_sum=900.0,
        iteration_steps=120.0,
        prefix_cache_hits=320.0,
    )


def test_the_older_time_per_output_token_name_is_read_too() -> None:
    page = (
        "vllm:num_requests_running 1\n"
        "vllm:time_per_output_token_seconds_sum 2.0\n"
        "vllm:time_per_output_token_seconds_count 50\n"
    )
    timings = engine_metrics.parse_engine_metrics(page).timings
    assert timings is not None
    assert (timings.inter_token_sum_s, timings.inter_token_count) == (2.0, 50.0)
    assert timings.iteration_steps is None


def test_an_engine_without_latency_histograms_has_no_timings() -> None:
    assert engine_metrics.parse_engine_metrics(PAGE).timings is None
