"""How closely the engine reproduces its profile: every measured point, replayed through the engine.

For each point an engine is set up (large enough limits, no CPU overhead, no slowdown) and fed
requests so that one of its steps is exactly the measured situation; the step's simulated duration
is compared with the measured GPU time:
- prefill (T tokens): one request with a T-token prompt; its first token ends the step;
- decode (B, L): B requests with L-token prompts are prefilled in one step; the next step decodes
  all B at context L;
- mixed (P, B, L): as decode, plus a P-token prompt arriving during the prefill step, so the next
  step decodes B sequences and prefills P tokens together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sloserve.engine import config, core, events, requests, timing
from sloserve.scheduling import latency_profile


@dataclass(frozen=True, kw_only=True)
class CalibrationPoint:
    """One measured point and the engine's step time for it, in milliseconds."""

    kind: Literal["prefill", "decode", "mixed"]
    prefill_tokens: int
    batch: int
    context: int
    measured_ms: float
    simulated_ms: float

    @property
    def relative_error(self) -> float:
        """|simulated − measured| / measured."""
        return abs(self.simulated_ms - self.measured_ms) / self.measured_ms


@dataclass(frozen=True)
class CalibrationReport:
    """Every point of a profile, replayed."""

    profile: str
    points: tuple[CalibrationPoint, ...]

    @property
    def max_relative_error(self) -> float:
        return max((p.relative_error for p in self.points), default=0.0)


def replay_profile(profile: latency_profile.LatencyProfile) -> CalibrationReport:
    """Replay every prefill, decode and mixed point of `profile` through the engine."""
    points: list[CalibrationPoint] = []
    for prefill in profile.prefill:
        simulated = _step_ms(profile, prefill_tokens=prefill.tokens, batch=0, context=0)
        points.append(
            CalibrationPoint(
                kind="prefill",
                prefill_tokens=prefill.tokens,
                batch=0,
                context=0,
                measured_ms=prefill.ms,
                simulated_ms=simulated,
            )
        )
    for decode in profile.decode:
        simulated = _step_ms(profile, prefill_tokens=0, batch=decode.batch, context=decode.context)
        points.append(
            CalibrationPoint(
                kind="decode",
                prefill_tokens=0,
                batch=decode.batch,
                context=decode.context,
                measured_ms=decode.ms,
                simulated_ms=simulated,
            )
        )
    for mixed in profile.mixed:
        simulated = _step_ms(
            profile, prefill_tokens=mixed.prefill_tokens, batch=mixed.batch, context=mixed.context
        )
        points.append(
            CalibrationPoint(
                kind="mixed",
                prefill_tokens=mixed.prefill_tokens,
                batch=mixed.batch,
                context=mixed.context,
                measured_ms=mixed.ms,
                simulated_ms=simulated,
            )
        )
    return CalibrationReport(profile=profile.name, points=tuple(points))


def _step_ms(
    profile: latency_profile.LatencyProfile, *, prefill_tokens: int, batch: int, context: int
) -> float:
    """Duration of the engine step that computes `prefill_tokens` of a fresh prompt together
    with a decode batch of `batch` sequences at `context` cached tokens (either may be 0)."""
    context = max(context, 1)  # a sequence that decodes has at least its one-token prompt
    tokens_in_flight = batch * (context + 3) + prefill_tokens
    block_size = 16
    engine_config = config.EngineConfig(
        max_num_seqs=batch + 1,
        max_num_batched_tokens=max(batch * context + prefill_tokens + batch, batch + 1),
        num_gpu_blocks=tokens_in_flight // block_size + batch + 2,
        block_size=block_size,
        max_model_len=max(context, prefill_tokens) + 3,
    )
    timer = timing.StepTimer(profile, cpu_overhead_ms=0.0)
    engine = core.EngineCore(engine_config, timer)
    if batch == 0:
        engine.add_request(_spec("prompt", prefill_tokens, 1), at=0.0)
        return _first_time(engine, events.FirstToken, "prompt") * 1000.0
    for index in range(batch):
        engine.add_request(_spec(f"decoder-{index}", context, 3), at=0.0)
    engine.next_event_time()  # plan the prefill step of the decoders before the prompt arrives
    if prefill_tokens:
        engine.add_request(_spec("prompt", prefill_tokens, 1), at=1e-9)
    decoders_prefilled = _first_time(engine, events.FirstToken, "decoder-0")
    decoders_decoded = _first_time(engine, events.Token, "decoder-0")
    return (decoders_decoded - decoders_prefilled) * 1000.0


def _spec(request_id: str, prompt_tokens: int, output_tokens: int) -> requests.RequestSpec:
    return requests.RequestSpec(
        request_id=request_id, prompt_tokens=prompt_tokens, output_tokens=output_tokens
    )


def _first_time(
    engine: core.EngineCore,
    kind: type[events.FirstToken] | type[events.Token],
    request_id: str,
) -> float:
    while (due := engine.next_event_time()) is not None:
        for event in engine.advance(due):
            if isinstance(event, kind) and event.request_id == request_id:
                return event.time
    raise RuntimeError(f"the engine never produced a {kind.__name__} for {request_id!r}")
