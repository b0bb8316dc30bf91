"""Building a simulated cluster: engine cores from a latency profile, the scheduler's latency model,
and the SLO classes of a workload.

Engines follow vLLM's defaults on the profile's GPU (`engine.config.default_batching_limits`:
max_num_seqs 1024 and max_num_batched_tokens 8192 on an H100), chunked prefill on, a KV cache of
`gpu_memory_utilization` of the GPU's memory less the weights, in blocks of 16 tokens.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from sloserve.engine import config, core, timing
from sloserve.scheduling import attention_cost, latency_fit, latency_model, latency_profile, slo
from sloserve.sim import engines, workload


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineSettings:
    """Limits of every engine of a cluster; None takes vLLM's default for the profile's GPU.

    `max_num_seqs`, `max_num_batched_tokens`, `block_size`, `max_model_len` and
    `gpu_memory_utilization` mean what vLLM's flags of the same names mean; `num_gpu_blocks`
    is `--num-gpu-blocks-override` (None: what fits beside the weights).
    """

    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    num_gpu_blocks: int | None = None
    block_size: int = 16
    max_model_len: int = 8192
    gpu_memory_utilization: float = 0.9
    enable_prefix_caching: bool = True

    def engine_config(
        self, profile: latency_profile.LatencyProfile, policy: config.Policy
    ) -> config.EngineConfig:
        """The engine configuration on `profile`'s GPU under iteration policy `policy`."""
        default_seqs, default_tokens = config.default_batching_limits(profile)
        num_gpu_blocks = self.num_gpu_blocks
        if num_gpu_blocks is None:
            num_gpu_blocks = config.kv_blocks_for_profile(
                profile,
                block_size=self.block_size,
                gpu_memory_utilization=self.gpu_memory_utilization,
            )
        return config.EngineConfig(
            max_num_seqs=default_seqs if self.max_num_seqs is None else self.max_num_seqs,
            max_num_batched_tokens=(
                default_tokens
                if self.max_num_batched_tokens is None
                else self.max_num_batched_tokens
            ),
            num_gpu_blocks=num_gpu_blocks,
            block_size=self.block_size,
            max_model_len=self.max_model_len,
            policy=policy,
            enable_prefix_caching=self.enable_prefix_caching,
        )


def build_engines(
    *,
    profile: latency_profile.LatencyProfile,
    engine_config: config.EngineConfig,
    slowdowns: Sequence[float],
    track_contexts: bool,
    context_refresh_s: float,
) -> list[engines.SimEngine]:
    """One engine per entry of `slowdowns` (its co-location slowdown), ids engine-0, engine-1, …"""
    return [
        engines.SimEngine(
            engine_id=f"engine-{index}",
            engine_core=core.EngineCore(
                engine_config,
                timing.StepTimer(profile, slowdown=slowdown),
                token_events=False,
            ),
            track_contexts=track_contexts,
            context_refresh_s=context_refresh_s,
        )
        for index, slowdown in enumerate(slowdowns)
    ]


@functools.lru_cache(maxsize=8)
def fitted_latency(
    profile: latency_profile.LatencyProfile, max_batched_tokens: int
) -> latency_model.LatencyModel:
    """The scheduler's latency model fitted on `profile` (cached: a fit costs milliseconds, and a
    sweep runs many simulations on one profile)."""
    return latency_fit.fit_latency_model(profile, max_batched_tokens=max_batched_tokens).model


def attention_figures(profile: latency_profile.LatencyProfile) -> tuple[float, float]:
    """(ms per attention pair, ms per prompt token) of `profile`, for the scheduler's prediction
    of prompts that follow a cached prefix (`attention_cost`)."""
    return attention_cost.attention_ms_per_pair(profile), attention_cost.per_token_ms(profile)


def slo_classes(shares: Sequence[workload.ClassShare]) -> dict[str, slo.SLOClass]:
    """The scheduler's classes for a workload's class mix, by name.

    Each class's priority (read only by engines scheduling by priority) is its rank by TTFT
    target, tightest first (ties by TPOT target): SCORPIO's classes get interactive 0,
    standard 1, batch 2. Raises ValueError when two shares have the same name but other targets.
    """
    ranked = sorted({share.name: share for share in shares}.values(), key=_tightness)
    classes: dict[str, slo.SLOClass] = {}
    for rank, share in enumerate(ranked):
        classes[share.name] = slo.SLOClass(
            name=share.name, ttft_s=share.ttft_s, tpot_s=share.tpot_s, priority=rank
        )
    for share in shares:
        known = classes[share.name]
        if (known.ttft_s, known.tpot_s) != (share.ttft_s, share.tpot_s):
            raise ValueError(
                f"SLO class {share.name!r} appears with two sets of targets; give each class "
                "one TTFT and one TPOT target"
            )
    return classes


def _tightness(share: workload.ClassShare) -> tuple[float, float, str]:
    return (share.ttft_s, share.tpot_s, share.name)
