"""Predicted engine step times: prefill by prompt tokens, decode step by batch and context.

The forms start from SCORPIO's and add what the measured H200 profiles show it misses (up to 12 %
on prefill and 23 % on decode steps otherwise):

- Prefill is flat up to a threshold (small prompts are bound by reading the weights), then grows
  along a line whose slope may change once more at a knee (the passage from weight-bound to
  compute-bound GEMMs spans a few hundred tokens), plus attention's quadratic term.
- A decode step costs d + b·B + b₂·max(B − B₁, 0) + c·L + a·L·max(B, B*): the batch's GEMMs are
  flat until they fill the GPU (the knee B₁), and the attention kernel reads B·L cached tokens but
  below B* sequences it cannot fill the GPU, so its time is that of B* sequences.
- A chunked-prefill step (a prompt chunk of P tokens riding on a decode step of B sequences) costs
  the decode step plus what P more token rows cost the dense layers, prefill(P + B) − prefill(B),
  times a factor fitted on the profile's measured mixed steps (the measured H200 steps run 8–11 %
  above that composition: the chunk's attention and the mixed batch's kernels are not free).

Coefficients come from `latency_fit` on a measured profile. Every time is in seconds. Predictions
here are GPU times; `LatencyModel` adds the engine's per-step CPU overhead, which the profile
measures separately. `scaled` is the one place a model is stretched (online calibration).
"""

import dataclasses
from dataclasses import dataclass

from sloserve.scheduling import _validation


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefillModel:
    """T(C) = floor_s for C ≤ threshold_tokens, else floor_s + slope·(C − threshold)
    + knee_slope·max(C − knee_tokens, 0) + quadratic·(C² − threshold²).

    `knee_tokens` 0 means no knee. Contract: non-decreasing in C (slope ≥ 0, slope + knee_slope
    ≥ 0, quadratic ≥ 0), so more tokens ahead never predict an earlier first token.
    """

    threshold_tokens: int
    floor_s: float
    slope_s_per_token: float
    knee_tokens: int = 0
    knee_slope_s_per_token: float = 0.0
    quadratic_s_per_token2: float = 0.0

    def __post_init__(self) -> None:
        _validation.require_positive("prefill floor_s", self.floor_s)
        _validation.require_non_negative("prefill slope_s_per_token", self.slope_s_per_token)
        _validation.require_finite("prefill knee_slope_s_per_token", self.knee_slope_s_per_token)
        _validation.require_non_negative(
            "prefill slope_s_per_token + knee_slope_s_per_token",
            self.slope_s_per_token + self.knee_slope_s_per_token,
        )
        _validation.require_non_negative(
            "prefill quadratic_s_per_token2", self.quadratic_s_per_token2
        )
        if self.knee_tokens and self.knee_tokens <= self.threshold_tokens:
            raise ValueError(
                f"prefill knee_tokens ({self.knee_tokens}) must be above threshold_tokens "
                f"({self.threshold_tokens}), or 0 for no knee"
            )

    def predict_s(self, tokens: float) -> float:
        """GPU time of one forward pass over `tokens` fresh prompt tokens."""
        threshold = float(self.threshold_tokens)
        if tokens <= threshold:
            return self.floor_s
        time_s = (
            self.floor_s
            + self.slope_s_per_token * (tokens - threshold)
            + self.quadratic_s_per_token2 * (tokens * tokens - threshold * threshold)
        )
        if self.knee_tokens and tokens > self.knee_tokens:
            time_s += self.knee_slope_s_per_token * (tokens - self.knee_tokens)
        return time_s

    def scaled(self, factor: float) -> "PrefillModel":
        """The same shape with every time multiplied by `factor` (> 0)."""
        _validation.require_positive("prefill scale factor", factor)
        return dataclasses.replace(
            self,
            floor_s=self.floor_s * factor,
            slope_s_per_token=self.slope_s_per_token * factor,
            knee_slope_s_per_token=self.knee_slope_s_per_token * factor,
            quadratic_s_per_token2=self.quadratic_s_per_token2 * factor,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeStepModel:
    """T(B, L) = batch_context_s·L·max(B, attention_batch_floor) + batch_s·B
    + batch_knee_s·max(B − batch_knee, 0) + context_s·L + constant_s.

    With the defaults (no floor, no knee) this is SCORPIO's bilinear a·B·L + b·B + c·L + d.
    """

    batch_context_s: float
    batch_s: float
    context_s: float
    constant_s: float
    attention_batch_floor: float = 0.0
    batch_knee: float = 0.0
    batch_knee_s: float = 0.0

    def predict_s(self, batch: float, context: float) -> float:
        """GPU time of one decode step of `batch` sequences (may be fractional: a virtual batch)
        of mean context `context` tokens."""
        attention_batch = (
            batch if batch > self.attention_batch_floor else self.attention_batch_floor
        )
        time_s = (
            self.batch_context_s * attention_batch * context
            + self.batch_s * batch
            + self.context_s * context
            + self.constant_s
        )
        if batch > self.batch_knee:
            time_s += self.batch_knee_s * (batch - self.batch_knee)
        return time_s

    def scaled(self, factor: float) -> "DecodeStepModel":
        """The same shape with every time multiplied by `factor` (> 0)."""
        _validation.require_positive("decode scale factor", factor)
        return dataclasses.replace(
            self,
            batch_context_s=self.batch_context_s * factor,
            batch_s=self.batch_s * factor,
            context_s=self.context_s * factor,
            constant_s=self.constant_s * factor,
            batch_knee_s=self.batch_knee_s * factor,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyModel:
    """Engine step times including the per-step CPU overhead.

    `max_batched_tokens`: the most prompt tokens an engine prefills in one step (vLLM's
    `max_num_batched_tokens`); longer prefills run as chunks, each a step with its own overhead.
    `mixed_factor`: measured over composed time of chunked-prefill steps (1 when the profile
    measured none).
    """

    prefill: PrefillModel
    decode: DecodeStepModel
    cpu_overhead_s: float
    max_batched_tokens: int = 8192
    mixed_factor: float = 1.0
    _full_chunk_s: float = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validation.require_non_negative("cpu_overhead_s", self.cpu_overhead_s)
        _validation.require_positive("mixed_factor", self.mixed_factor)
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

    def prompt_prefill_time_s(self, tokens: int) -> float:
        """Time to prefill ONE prompt of `tokens` tokens, chunked: `prefill_time_s` plus what
        each chunk's attention over the chunks before it costs (the quadratic term over the
        whole prompt, less that of each chunk alone). `prefill_time_s` leaves it out because it
        is also asked about queues of separate prompts, which do not attend to each other."""
        time_s = self.prefill_time_s(tokens)
        full_chunks, remainder = divmod(max(tokens, 0), self.max_batched_tokens)
        if full_chunks == 0:
            return time_s
        within_chunks = full_chunks * self.max_batched_tokens**2 + remainder**2
        return time_s + self.prefill.quadratic_s_per_token2 * (tokens * tokens - within_chunks)

    def decode_step_time_s(self, batch: float, context: float) -> float:
        """Time of one decode step of `batch` sequences of mean context `context`."""
        return self.decode.predict_s(batch, context) + self.cpu_overhead_s

    def mixed_step_gpu_s(self, prefill_tokens: float, batch: float, context: float) -> float:
        """GPU time of one step that prefills a chunk of `prefill_tokens` while `batch`
        sequences of mean context `context` decode (no CPU overhead, no slowdown); with no
        batch, a plain prefill, as the engine runs it."""
        step_s = self.mixed_factor * self.decode.predict_s(batch, context) if batch > 0 else 0.0
        return step_s + self.chunk_rows_gpu_s(prefill_tokens, batch)

    def chunk_rows_gpu_s(self, prefill_tokens: float, batch: float) -> float:
        """What a chunk of `prefill_tokens` adds to a mixed step of `batch` decoding sequences:
        its token rows through the dense layers, at the mixed-step factor (with no batch, the
        whole prefill)."""
        prefill = self.prefill
        if prefill_tokens <= 0:
            return 0.0
        if batch <= 0:
            return prefill.predict_s(prefill_tokens)
        extra_rows_s = prefill.predict_s(prefill_tokens + batch) - prefill.predict_s(batch)
        return self.mixed_factor * extra_rows_s

    def scaled(self, *, prefill: float, decode: float) -> "LatencyModel":
        """This model with its prefill GPU times multiplied by `prefill` and its decode-step GPU
        times by `decode` (the CPU overhead stays: a slower GPU does not slow the host)."""
        return LatencyModel(
            prefill=self.prefill.scaled(prefill),
            decode=self.decode.scaled(decode),
            cpu_overhead_s=self.cpu_overhead_s,
            max_batched_tokens=self.max_batched_tokens,
            mixed_factor=self.mixed_factor,
        )
