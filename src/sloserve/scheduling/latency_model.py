"""Predicted engine step times: prefill by prompt tokens, decode step by batch and context.

The forms follow SCORPIO: prefill time is flat below a token threshold (small prompts are bound by
reading the weights) and linear above it; a decode step costs a·B·L + b·B + c·L + d for a batch of
B sequences of mean context L. Coefficients come from `latency_fit` on a measured profile. Every
time is in seconds. Predictions here are GPU times; `LatencyModel` adds the engine's per-step CPU
overhead, which the profile measures separately.
"""

import dataclasses
from dataclasses import dataclass

from sloserve.scheduling import _validation


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefillModel:
    """T(C) = floor_s for C ≤ threshold_tokens, else max(floor_s, slope·C + intercept).

    Contract: non-decreasing in C (the fit guarantees slope ≥ 0), so more tokens ahead never
    predict an earlier first token.
    """

    threshold_tokens: int
    floor_s: float
    slope_s_per_token: float
    intercept_s: float

    def __post_init__(self) -> None:
        _validation.require_positive("prefill floor_s", self.floor_s)
        _validation.require_non_negative("prefill slope_s_per_token", self.slope_s_per_token)
        _validation.require_finite("prefill intercept_s", self.intercept_s)

    def predict_s(self, tokens: float) -> float:
        """GPU time of one forward pass over `tokens` fresh prompt tokens."""
        if tokens <= self.threshold_tokens:
            return self.floor_s
        return max(self.floor_s, self.slope_s_per_token * tokens + self.intercept_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeStepModel:
    """T(B, L) = batch_context_s·B·L + batch_s·B + context_s·L + constant_s."""

    batch_context_s: float
    batch_s: float
    context_s: float
    constant_s: float

    def predict_s(self, batch: float, context: float) -> float:
        """GPU time of one decode step of `batch` sequences (may be fractional: a virtual batch)
        of mean context `context` tokens."""
        return (
            self.batch_context_s * batch * context
            + self.batch_s * batch
            + self.context_s * context
            + self.constant_s
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyModel:
    """Engine step times including the per-step CPU overhead.

    `max_batched_tokens`: the most prompt tokens an engine prefills in one step (vLLM's
    `max_num_batched_tokens`); longer prefills run as chunks, each a step with its own overhead.
    """

    prefill: PrefillModel
    decode: DecodeStepModel
    cpu_overhead_s: float
    max_batched_tokens: int = 8192
    _full_chunk_s: float = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validation.require_non_negative("cpu_overhead_s", self.cpu_overhead_s)
        if self.max_batched_tokens < 1:
            raise ValueError(
                f"max_batched_tokens must be at least 1, got {self.max_batched_tokens!r}"
            )
        # The TTFT guard prefills whole queues, mostly longer than one chunk: price a full chunk
        # (GPU and CPU) once.
        full_chunk_s = self.prefill.predict_s(self.max_batched_tokens) + self.cpu_overhead_s
        object.__setattr__(self, "_full_chunk_s", full_chunk_s)

    def prefill_time_s(self, tokens: int) -> float:
        """Time to prefill `tokens` prompt tokens (0 for none), chunked as the engine would."""
        if tokens <= 0:
            return 0.0
        full_chunks, remainder = divmod(tokens, self.max_batched_tokens)
        time_s = full_chunks * self._full_chunk_s
        if remainder:
            time_s += self.prefill.predict_s(remainder) + self.cpu_overhead_s
        return time_s

    def decode_step_time_s(self, batch: float, context: float) -> float:
        """Time of one decode step of `batch` sequences of mean context `context`."""
        return self.decode.predict_s(batch, context) + self.cpu_overhead_s
