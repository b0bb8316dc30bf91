"""The operator's one place for `engine.profile`: which names resolve, and the best-case prefill
time on each, found the way the gateway and the engine simulator find theirs.

Every profile is loaded and fitted once per operator process (there are a handful); the check
itself is pure (`sloserve.builders.profile_check`).
"""

from __future__ import annotations

import logging

from sloserve.api import engine_flags
from sloserve.api.spec import ModelServiceSpec
from sloserve.autoscaling import capacity
from sloserve.builders import profile_choice
from sloserve.builders.profile_check import ProfileCheck, check_profile
from sloserve.engine import config as engine_config
from sloserve.engine import profiles, synthetic_profile
from sloserve.scheduling import latency_fit, latency_model, profile_files

__all__ = ["ProfileBook"]

logger = logging.getLogger("sloserve.operator.profiles")

# vLLM's default prefill chunk when `--max-num-batched-tokens` is not given.
_DEFAULT_CHUNK_TOKENS = 8192
_CHUNK_FLAG = ("--max-num-batched-tokens",)
# vLLM's defaults for the KV cache: blocks of 16 tokens in 0.9 of the GPU's memory.
_BLOCK_SIZE = 16
_GPU_MEMORY_UTILIZATION = 0.9


def _chunk_tokens(args: tuple[str, ...]) -> int:
    value = engine_flags.flag_value(args, _CHUNK_FLAG)
    if value is not None and value.isdigit() and int(value) > 0:
        return int(value)
    return _DEFAULT_CHUNK_TOKENS


class ProfileBook:
    """The profiles an operator knows, each resolved and fitted at most once."""

    def __init__(self) -> None:
        self._known = (*profile_files.available_profiles(), synthetic_profile.NAME)
        self._models: dict[tuple[str, int, float], latency_model.LatencyModel | None] = {}

    @property
    def known(self) -> tuple[str, ...]:
        """Every profile name `engine.profile` may take."""
        return self._known

    def _model(
        self, name: str, chunk_tokens: int, prefill_scale: float = 1.0
    ) -> latency_model.LatencyModel | None:
        key = (name, chunk_tokens, prefill_scale)
        if key not in self._models:
            try:
                profile = profiles.resolve(name)
                fitted = latency_fit.fit_latency_model(profile, max_batched_tokens=chunk_tokens)
                self._models[key] = fitted.model.scaled(prefill=prefill_scale, decode=1.0)
            except ValueError as error:
                logger.warning("latency profile %r cannot be used: %s", name, error)
                self._models[key] = None
        return self._models[key]

    def check(self, spec: ModelServiceSpec) -> ProfileCheck:
        """Whether the spec's profile resolves (by name, or chosen for `auto`), and which
        classes' TTFT objectives are below the best-case prefill of their `maxPromptTokens` on
        it."""
        resolution = profile_choice.choose_profile(model=spec.model, engine=spec.engine)
        name = resolution.profile
        model = (
            self._model(name, _chunk_tokens(spec.engine.args), resolution.prefill_scale)
            if name is not None and name in self._known
            else None
        )
        return check_profile(
            spec,
            known=self._known,
            prefill_time_s=model.prompt_prefill_time_s if model is not None else None,
            resolution=resolution,
        )

    def capacity_inputs(
        self, spec: ModelServiceSpec
    ) -> tuple[latency_model.LatencyModel, capacity.EngineLimits] | None:
        """The latency model and one engine's limits (vLLM's default `max_num_seqs` on the
        profile's GPU, and the KV cache beside the weights at 0.9 of its memory) that the
        autoscaler's capacity is computed from; None when the profile does not resolve."""
        resolution = profile_choice.choose_profile(model=spec.model, engine=spec.engine)
        name = resolution.profile
        if name is None or name not in self._known:
            return None
        model = self._model(name, _chunk_tokens(spec.engine.args), resolution.prefill_scale)
        if model is None:
            return None
        profile = profiles.resolve(name)
        max_num_seqs, _ = engine_config.default_batching_limits(profile)
        blocks = engine_config.kv_blocks_for_profile(
            profile, block_size=_BLOCK_SIZE, gpu_memory_utilization=_GPU_MEMORY_UTILIZATION
        )
        limits = capacity.EngineLimits(
            max_num_seqs=max_num_seqs, kv_cache_tokens=blocks * _BLOCK_SIZE
        )
        return model, limits
