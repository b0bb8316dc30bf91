"""Per-engine capacity from the latency model: the most traffic of a class mix one engine serves
with every class at its target attainment.

A steady-state model of one engine under arrival rate λ of a fixed mix (shares w_k, mean prompt
P_k and output O_k tokens per class):

- prefill takes a share ρ = λ·Σ w_k·T_prefill(P_k) of the engine's time; decode-only steps
  fill the rest, and every step that prefills a prompt chunk carries the running requests'
  next tokens too (chunked prefill), so running requests get (1 − ρ)/T_step(B, L) + λ·c steps
  a second (c the prompt chunks per request; L the mean context, prompt plus half the output);
- by Little's law the decode batch is B = λ·Ō·τ (Ō the mean output, τ the time between two
  tokens); under credit batching B is the virtual batch, which is what the step time follows;
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
    chunks_per_request: float

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
            chunks_per_request=sum(
                share * math.ceil(max(1.0, item.mean_prompt_tokens) / latency.max_batched_tokens)
                for share, item in zip(shares, demand, strict=True)
            ),
        )

    def feasible_at(
        self, rate: float, *, latency: latency_model.LatencyModel, limits: EngineLimits
    ) -> bool:
        prefill_load = rate * self.mean_prefill_s
        if prefill_load >= 1:
            return False
        # Little's law at the tightest TPOT: the batch if tokens come exactly that often. The
        # token gap only grows with the batch, so the rate is feasible exactly when the gap at
        # this batch stays within the TPOT (a fixed point at or below it then exists).
        batch = rate * self.mean_output * self.tightest_tpot_s
        most = min(float(limits.max_num_seqs), limits.kv_cache_tokens / max(1.0, self.mean_context))
        if batch > most:
            return False
        step_s = latency.decode_step_time_s(max(batch, 1.0), self.mean_context)
        # Decode-only steps fill the time prefill leaves; the steps that prefill a prompt chunk
        # carry the running requests' tokens too (chunked prefill), one per prompt chunk.
        steps_per_s = (1 - prefill_load) / step_s + rate * self.chunks_per_request
        if 1 / steps_per_s > self.tightest_tpot_s:
            return False
        for item, own_prefill_s in zip(self.classes, self.prefill_s, strict=True):
            slack_s = item.ttft_s - own_prefill_s - step_s
            if slack_s <= 0:
                return False
            late = prefill_load * math.exp(-(1 - prefill_load) * slack_s / self.mean_prefill_s)
            if late > 1 - item.target_attainment + 1e-12:
                return False
        return True
