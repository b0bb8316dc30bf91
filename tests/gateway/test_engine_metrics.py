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
