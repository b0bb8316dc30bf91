"""Per-engine capacity from the latency model: the most traffic of a class mix one engine serves
with every class at its target attainment.

A steady-state model of one engine under arrival rate λ of a fixed mix (shares w_k, mean prompt
P_k and output O_k tokens per class):

- prefill takes a share ρ = λ·Σ w_k·T_prefill(P_k) of the engine's time; decode steps get the
  rest, so the time between two tokens of a running request is τ = T_step(B, L) / (1 − ρ);
- by Little's law the decode batch is B = λ·Ō·τ (Ō the mean output), solved by fixed-point
  iteration; L, the mean context, is the mean prompt plus half the mean output;
- TPOT holds when τ stays at or below the tightest class's TPOT target;
- TTFT of class k holds at attainment a_k when the wait for prefill, taken as the waiting time of
  an M/M/1 queue of the prefill work (P(W > t) = ρ·e^(−(1−ρ)·t/T̄_p)), exceeds the class's slack
  (TTFT target − its own prefill − one decode step) with probability at most 1 − a_k;
- the batch fits the engine: B ≤ max_num_seqs and B·L ≤ the KV cache's tokens.

The capacity is the largest λ that satisfies all of these, found by bisection: every constraint
only tightens as λ grows. Pure and deterministic; times in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sloserve.scheduling import latency_model

__all__ = ["ClassDemand", "EngineLimits", "engine_capacity_rps"]

# Bisection steps: 2^-40 of the upper bound is far below any rate that matters.
_BISECTION_STEPS = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassDemand:
    """One class's share of the traffic and its lengths and objectives.

    `rate_rps`: arrivals per second (its share of the mix is its rate over the total; a mix of
    zero rates counts every class equally). `target_attainment`: in (0, 1].
    """

    name: str
    rate_rps: float
    mean_prompt_tokens: float
    mean_output_tokens: float
    ttft_s: float
    tpot_s: float
    target_attainment: float

    def __post_init__(self) -> None:
        for field, value in (
            ("rate_rps", self.rate_rps),
            ("mean_prompt_tokens", self.mean_prompt_tokens),
            ("mean_output_tokens", self.mean_output_tokens),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"class {self.name!r}: {field} must be finite and ≥ 0, got {value}"
                )
        if not (self.ttft_s > 0 and self.tpot_s > 0):
            raise ValueError(f"class {self.name!r}: ttft_s and tpot_s must be above zero")
        if not (0 < self.target_attainment <= 1):
            raise ValueError(
                f"class {self.name!r}: target_attainment must be in (0, 1],"
                f" got {self.target_attainment}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineLimits:
    """What one engine holds: vLLM's `max_num_seqs` and the KV cache in tokens."""

    max_num_seqs: int
    kv_cache_tokens: int


def engine_capacity_rps(
    demand: Sequence[ClassDemand],
    *,
    latency: latency_model.LatencyModel,
    limits: EngineLimits,
) -> float:
    """Requests per second of `demand`'s mix that one engine serves at every class's target.

    Returns 0 when even a trickle cannot meet some class's objectives (a TTFT below one prefill,
    a TPOT below one decode step). Raises ValueError for an empty mix.
    """
    if not demand:
        raise ValueError("the class mix is empty: give at least one class")
    mix = _Mix.of(demand, latency)
    if not mix.feasible_at(1e-9, latency=latency, limits=limits):
        return 0.0
    low, high = 0.0, 1.0 / mix.mean_prefill_s
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        if mix.feasible_at(middle, latency=latency, limits=limits):
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True, slots=True)
class _Mix:
    shares: tuple[float, ...]
    prefill_s: tuple[float, ...]
    classes: tuple[ClassDemand, ...]
    mean_prefill_s: float
    mean_output: float
    mean_context: float
    tightest_tpot_s: float

    @staticmethod
    def of(demand: Sequence[ClassDemand], latency: latency_model.LatencyModel) -> _Mix:
        total = sum(item.rate_rps for item in demand)
        shares = tuple((item.rate_rps / total) if total > 0 else 1 / len(demand) for item in demand)
        prefill = tuple(
            latency.prefill_time_s(max(1, round(item.mean_prompt_tokens))) for item in demand
        )
        mean_prompt = sum(
            s * item.mean_prompt_tokens for s, item in zip(shares, demand, strict=True)
        )
        mean_output = sum(
            s * item.mean_output_tokens for s, item in zip(shares, demand, strict=True)
        )
        return _Mix(
            shares=shares,
            prefill_s=prefill,
            classes=tuple(demand),
            mean_prefill_s=max(1e-6, sum(s * p for s, p in zip(shares, prefill, strict=True))),
            mean_output=max(1.0, mean_output),
            mean_context=mean_prompt + mean_output / 2,
            tightest_tpot_s=min(item.tpot_s for item in demand),
        )

    def feasible_at(
        self, rate: float, *, latency: latency_model.LatencyModel, limits: EngineLimits
    ) -> bool:
        prefill_load = rate * self.mean_prefill_s
        if prefill_load >= 1:
            return False
        batch = self._decode_batch(rate, prefill_load, latency=latency, limits=limits)
        if batch is None:
            return False
        token_gap_s = latency.decode_step_time_s(max(batch, 1.0), self.mean_context) / (
            1 - prefill_load
        )
        if token_gap_s > self.tightest_tpot_s:
            return False
        step_s = latency.decode_step_time_s(max(batch, 1.0), self.mean_context)
        for item, own_prefill_s in zip(self.classes, self.prefill_s, strict=True):
            slack_s = item.ttft_s - own_prefill_s - step_s
            if slack_s <= 0:
                return False
            late = prefill_load * math.exp(-(1 - prefill_load) * slack_s / self.mean_prefill_s)
            if late > 1 - item.target_attainment + 1e-12:
                return False
        return True

    def _decode_batch(
        self,
        rate: float,
        prefill_load: float,
        *,
        latency: latency_model.LatencyModel,
        limits: EngineLimits,
    ) -> float | None:
        """B with B = λ·Ō·T_step(B, L)/(1 − ρ), or None when no batch the engine holds does.

        T_step is linear in B (per_sequence·B + fixed), so the fixed point is closed-form:
        B = k·fixed / (1 − k·per_sequence) with k = λ·Ō/(1 − ρ), when k·per_sequence < 1.
        """
        decode = latency.decode
        context = self.mean_context
        per_sequence = decode.batch_context_s * context + decode.batch_s
        fixed = decode.context_s * context + decode.constant_s + latency.cpu_overhead_s
        k = rate * self.mean_output / (1 - prefill_load)
        if k * per_sequence >= 1:
            return None
        batch = k * fixed / (1 - k * per_sequence)
        most = min(float(limits.max_num_seqs), limits.kv_cache_tokens / max(1.0, context))
        return batch if batch <= most else None
