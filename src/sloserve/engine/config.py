"""Engine configuration: batching limits, KV-cache size, scheduling policy.

Defaults follow vLLM's on the profile's GPU: on GPUs with at least 70 GiB (H100-class) an
OpenAI-serving vLLM uses max_num_batched_tokens 8192 and max_num_seqs 1024, on smaller ones 2048
and 256. The number of KV-cache blocks is what is left of `gpu_memory_utilization` of the GPU's
memory after the weights, divided by the bytes of one block (kv_bytes_per_token × block_size);
unlike vLLM it does not subtract the activations' peak memory, which the profile does not record.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sloserve.scheduling import latency_profile

_LARGE_GPU_BYTES = 70 * 2**30


class Policy(enum.StrEnum):
    """Which request the iteration scheduler serves first and preempts last."""

    FCFS = "fcfs"
    PRIORITY = "priority"
    CREDIT = "credit"


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Limits of one engine. Field names follow vLLM's flags (`max_num_seqs` is
    `--max-num-seqs`); `check()` runs on construction and names the flag that is wrong."""

    max_num_seqs: int
    max_num_batched_tokens: int
    num_gpu_blocks: int
    block_size: int = 16
    max_model_len: int = 8192
    enable_chunked_prefill: bool = True
    policy: Policy = Policy.FCFS
    # vLLM's automatic prefix caching (`--enable-prefix-caching`, on by default in vLLM V1):
    # requests that carry block hashes reuse cached prompt blocks
    enable_prefix_caching: bool = True

    def __post_init__(self) -> None:
        for field, flag in (
            ("max_num_seqs", "--max-num-seqs"),
            ("max_num_batched_tokens", "--max-num-batched-tokens"),
            ("num_gpu_blocks", "--num-gpu-blocks-override"),
            ("block_size", "--block-size"),
            ("max_model_len", "--max-model-len"),
        ):
            value = getattr(self, field)
            if value < 1:
                raise ValueError(f"{field} ({flag}) must be at least 1, got {value}")
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be at least "
                f"max_num_seqs ({self.max_num_seqs}): raise --max-num-batched-tokens or lower "
                "--max-num-seqs"
            )
        if not self.enable_chunked_prefill and self.max_num_batched_tokens < self.max_model_len:
            raise ValueError(
                f"without chunked prefill a whole prompt must fit in one step, but "
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) is below max_model_len "
                f"({self.max_model_len}): raise --max-num-batched-tokens, lower --max-model-len "
                "or enable chunked prefill"
            )
        if self.kv_capacity_tokens < self.max_model_len:
            raise ValueError(
                f"the KV cache holds {self.kv_capacity_tokens} tokens ({self.num_gpu_blocks} "
                f"blocks of {self.block_size}), fewer than max_model_len ({self.max_model_len}): "
                "lower --max-model-len or give the cache more memory (--gpu-memory-utilization, "
                "--num-gpu-blocks-override)"
            )

    @property
    def kv_capacity_tokens(self) -> int:
        """Tokens the whole KV cache can hold."""
        return self.num_gpu_blocks * self.block_size


def kv_blocks_for_profile(
    profile: latency_profile.LatencyProfile,
    *,
    block_size: int,
    gpu_memory_utilization: float,
    tensor_parallel_size: int = 1,
) -> int:
    """KV-cache blocks that fit beside the weights; raises ValueError when none do.

    With tensor parallelism the weights are split over `tensor_parallel_size` GPUs, each with the
    profile's memory, so the cache gets what is left across all of them.
    """
    if not 0 < gpu_memory_utilization <= 1:
        raise ValueError(
            f"gpu_memory_utilization (--gpu-memory-utilization) must be in (0, 1], "
            f"got {gpu_memory_utilization}"
        )
    if tensor_parallel_size < 1:
        raise ValueError(
            f"tensor_parallel_size (--tensor-parallel-size) must be at least 1, "
            f"got {tensor_parallel_size}"
        )
    usable = profile.gpu_memory_bytes * tensor_parallel_size * gpu_memory_utilization
    free_bytes = usable - profile.weights_bytes
    blocks = int(free_bytes // (profile.kv_bytes_per_token * block_size))
    if blocks < 1:
        raise ValueError(
            f"the weights ({profile.weights_bytes / 2**30:.1f} GiB) leave no room for a KV cache "
            f"in {gpu_memory_utilization} of {profile.gpu_memory_bytes / 2**30:.1f} GiB: raise "
            "--gpu-memory-utilization or pass --num-gpu-blocks-override"
        )
    return blocks


def default_batching_limits(profile: latency_profile.LatencyProfile) -> tuple[int, int]:
    """vLLM's (max_num_seqs, max_num_batched_tokens) defaults for the profile's GPU."""
    if profile.gpu_memory_bytes >= _LARGE_GPU_BYTES:
        return 1024, 8192
    return 256, 2048
