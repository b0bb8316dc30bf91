"""How long one engine step takes, from a measured latency profile.

GPU time of a step, by what it computes:
- prefill only (P tokens, possibly several prompts' chunks): the profile's prefill curve at P,
  piecewise-linear in tokens;
- decode only (B sequences of mean context L): the decode grid, bilinear in batch and context;
- both (a chunked-prefill step): decode(B, L) + prefill(P + B) − prefill(B), i.e. the decode step
  plus what P more token rows cost the dense layers; when the profile has `mixed` points that
  composition is multiplied by a correction factor interpolated between the measured points
  (held constant outside them), so each measured mixed step is reproduced exactly.
- a prefill chunk that follows earlier context (a cached prefix, or its prompt's earlier chunks)
  also attends over it: `prefill_attended` (Σ chunk tokens × earlier tokens) times the cost of
  one attention pair fitted on the profile's prefill curve (`scheduling.attention_cost`).

Step time = (GPU time × slowdown + CPU overhead per step) × time scale. The co-location slowdown
scales only the GPU part: interference between co-located engines is contention for the GPU's SMs
and memory bandwidth, while the engine's per-step CPU work runs on the host.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sloserve.engine import interpolation
from sloserve.scheduling import attention_cost, latency_profile


class StepTimer:
    """Step durations for one engine. `slowdown` may change at run time; it applies to steps
    that start after the change."""

    def __init__(
        self,
        profile: latency_profile.LatencyProfile,
        *,
        slowdown: float = 1.0,
        time_scale: float = 1.0,
        cpu_overhead_ms: float | None = None,
    ) -> None:
        self._prefill = interpolation.grid_from_records(
            [(float(p.tokens),) for p in profile.prefill],
            [p.ms for p in profile.prefill],
            extrapolate_above=True,
            what="prefill tokens",
        )
        self._decode = interpolation.grid_from_records(
            [(float(d.context), float(d.batch)) for d in profile.decode],
            [d.ms for d in profile.decode],
            extrapolate_above=True,
            what="decode (context, batch)",
        )
        # decode grids are (context, batch); a batch size recurs for many steps, so the
        # context curve at each batch size is built once
        self._decode_by_batch: dict[int, interpolation.NestedGrid] = {}
        self._mixed_correction: interpolation.NestedGrid | None = None
        if profile.mixed:
            self._mixed_correction = interpolation.grid_from_records(
                [
                    (float(m.context), float(m.batch), float(m.prefill_tokens))
                    for m in profile.mixed
                ],
                [
                    m.ms / self._composed_ms(m.prefill_tokens, m.batch, float(m.context))
                    for m in profile.mixed
                ],
                extrapolate_above=False,
                what="mixed (context, batch, prefill_tokens)",
            )
        # `decode_step_function` per batch size, built for the slowdown and time scale in force
        # (their setters empty it)
        self._decode_step_functions: dict[int, Callable[[float], float]] = {}
        self.slowdown = slowdown
        self.time_scale = time_scale
        overhead = profile.cpu_overhead_ms_per_step if cpu_overhead_ms is None else cpu_overhead_ms
        _require_non_negative("cpu_overhead_ms", overhead)
        self._cpu_overhead_ms = overhead
        self._attention_ms_per_pair = attention_cost.attention_ms_per_pair(profile)

    @property
    def slowdown(self) -> float:
        """Co-location slowdown factor (1 = alone on the GPU, 2 = GPU work takes twice as long)."""
        return self._slowdown

    @slowdown.setter
    def slowdown(self, factor: float) -> None:
        if not math.isfinite(factor) or factor <= 0:
            raise ValueError(f"slowdown must be a finite number above zero, got {factor!r}")
        self._slowdown = factor
        self._decode_step_functions.clear()

    @property
    def time_scale(self) -> float:
        """Multiplier on every step time (0 = steps take no time)."""
        return self._time_scale

    @time_scale.setter
    def time_scale(self, scale: float) -> None:
        _require_non_negative("time_scale", scale)
        self._time_scale = scale
        self._decode_step_functions.clear()

    @property
    def cpu_overhead_ms(self) -> float:
        """CPU time added to every step, in milliseconds."""
        return self._cpu_overhead_ms

    def gpu_ms(
        self,
        *,
        prefill_tokens: int,
        decode_batch: int,
        decode_context: float,
        prefill_attended: int = 0,
    ) -> float:
        """GPU time in milliseconds of a step (no slowdown, no CPU overhead).

        `decode_context` is the mean number of cached tokens of the decoding sequences;
        `prefill_attended` the (prefill token, earlier context token) pairs of its chunks.
        """
        if prefill_tokens < 0 or decode_batch < 0:
            raise ValueError("prefill_tokens and decode_batch must be at or above zero")
        if prefill_attended > 0:
            return self._attention_ms_per_pair * prefill_attended + self.gpu_ms(
                prefill_tokens=prefill_tokens,
                decode_batch=decode_batch,
                decode_context=decode_context,
            )
        if decode_batch == 0:
            return self._prefill_ms(prefill_tokens) if prefill_tokens else 0.0
        if prefill_tokens == 0:
            return self._decode_ms(decode_batch, decode_context)
        composed = self._composed_ms(prefill_tokens, decode_batch, decode_context)
        if self._mixed_correction is None:
            return composed
        return composed * self._mixed_correction.value(
            (decode_context, float(decode_batch), float(prefill_tokens))
        )

    def step_seconds(
        self,
        *,
        prefill_tokens: int,
        decode_batch: int,
        decode_context: float,
        prefill_attended: int = 0,
    ) -> float:
        """Wall time of a step in seconds: (GPU × slowdown + CPU overhead) × time scale."""
        gpu = self.gpu_ms(
            prefill_tokens=prefill_tokens,
            decode_batch=decode_batch,
            decode_context=decode_context,
            prefill_attended=prefill_attended,
        )
        return (gpu * self._slowdown + self._cpu_overhead_ms) * self._time_scale / 1000.0

    def decode_step_seconds(self, decode_batch: int, decode_context: float) -> float:
        """`step_seconds` of a decode-only step (`decode_batch` at least 1), the same figure
        without the general dispatch on what the step computes."""
        step_seconds = self._decode_step_functions.get(decode_batch)
        if step_seconds is None:
            step_seconds = self.decode_step_function(decode_batch)
        return step_seconds(decode_context)

    def decode_step_function(self, decode_batch: int) -> Callable[[float], float]:
        """`decode_step_seconds` at a fixed batch, as a function of the mean context: the
        same figure with less work per call, for a stretch of steps of one batch. It holds the
        slowdown and time scale in force when it is asked for."""
        step_seconds = self._decode_step_functions.get(decode_batch)
        if step_seconds is not None:
            return step_seconds
        curve = self._decode_by_batch.get(decode_batch)
        if curve is None:
            curve = self._decode_curve(decode_batch)
        # (GPU ms × slowdown + CPU overhead ms) × time scale / 1000, as `step_seconds` has it
        seconds = curve.line_function(
            scale=self._slowdown,
            offset=self._cpu_overhead_ms,
            multiplier=self._time_scale,
            divisor=1000.0,
        )
        self._decode_step_functions[decode_batch] = seconds
        return seconds

    def _prefill_ms(self, tokens: float) -> float:
        return self._prefill.value_at(tokens)

    def _decode_ms(self, batch: int, context: float) -> float:
        curve = self._decode_by_batch.get(batch)
        if curve is None:
            curve = self._decode_curve(batch)
        return curve.value_at(context)

    def _decode_curve(self, batch: int) -> interpolation.NestedGrid:
        curve = self._decode.with_inner_fixed((float(batch),))
        self._decode_by_batch[batch] = curve
        return curve

    def _composed_ms(self, prefill_tokens: int, decode_batch: int, decode_context: float) -> float:
        if decode_batch == 0:
            return self._prefill_ms(prefill_tokens)
        extra_rows = self._prefill_ms(prefill_tokens + decode_batch) - self._prefill_ms(
            decode_batch
        )
        return self._decode_ms(decode_batch, decode_context) + max(0.0, extra_rows)


def _require_non_negative(field: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{field} must be a finite number at or above zero, got {value!r}")
