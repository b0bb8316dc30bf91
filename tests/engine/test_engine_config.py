"""Engine limits: KV-cache size from the profile, vLLM's defaults, and checks naming the flag."""

from __future__ import annotations

import pytest
from engine_helpers import PROFILE

from sloserve.engine import config


def test_kv_blocks_are_what_the_weights_leave_of_the_memory_budget() -> None:
    blocks = config.kv_blocks_for_profile(PROFILE, block_size=16, gpu_memory_utilization=0.9)
    free_bytes = PROFILE.gpu_memory_bytes * 0.9 - PROFILE.weights_bytes
    assert blocks == int(free_bytes // (PROFILE.kv_bytes_per_token * 16))


def test_tensor_parallelism_gives_the_cache_the_memory_of_every_gpu() -> None:
    one = config.kv_blocks_for_profile(PROFILE, block_size=16, gpu_memory_utilization=0.9)
    two = config.kv_blocks_for_profile(
        PROFILE, block_size=16, gpu_memory_utilization=0.9, tensor_parallel_size=2
    )
    assert two > 2 * one


def test_weights_that_fill_the_budget_are_reported_with_what_to_change() -> None:
    with pytest.raises(ValueError, match="--gpu-memory-utilization"):
        config.kv_blocks_for_profile(PROFILE, block_size=16, gpu_memory_utilization=0.1)


def test_h100_class_gpus_get_vllms_large_defaults() -> None:
    assert config.default_batching_limits(PROFILE) == (1024, 8192)
    small = PROFILE.model_copy(update={"gpu_memory_bytes": 24 * 2**30})
    assert config.default_batching_limits(small) == (256, 2048)


def test_a_token_budget_below_the_batch_limit_is_refused_naming_both_flags() -> None:
    with pytest.raises(ValueError, match="--max-num-batched-tokens") as error:
        config.EngineConfig(max_num_seqs=64, max_num_batched_tokens=32, num_gpu_blocks=1000)
    assert "--max-num-seqs" in str(error.value)


def test_a_cache_smaller_than_one_full_sequence_is_refused() -> None:
    with pytest.raises(ValueError, match="--max-model-len"):
        config.EngineConfig(
            max_num_seqs=8, max_num_batched_tokens=64, num_gpu_blocks=4, max_model_len=1024
        )


def test_without_chunked_prefill_a_whole_prompt_must_fit_in_one_step() -> None:
    with pytest.raises(ValueError, match="chunked prefill"):
        config.EngineConfig(
            max_num_seqs=8,
            max_num_batched_tokens=512,
            num_gpu_blocks=1000,
            max_model_len=1024,
            enable_chunked_prefill=False,
        )
