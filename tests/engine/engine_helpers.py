"""Builders shared by the engine tests: small engines on the synthetic profile, and drivers."""

from __future__ import annotations

from sloserve.engine import config, core, events, requests, synthetic_profile, timing
from sloserve.scheduling import latency_profile

PROFILE = synthetic_profile.build()


def build_engine(
    *,
    max_num_seqs: int = 8,
    max_num_batched_tokens: int = 256,
    num_gpu_blocks: int = 256,
    block_size: int = 16,
    max_model_len: int = 1024,
    policy: config.Policy = config.Policy.FCFS,
    enable_chunked_prefill: bool = True,
    token_events: bool = True,
    profile: latency_profile.LatencyProfile = PROFILE,
    slowdown: float = 1.0,
    time_scale: float = 1.0,
) -> core.EngineCore:
    """A small engine (limits chosen by each test) timed by `profile`."""
    engine_config = config.EngineConfig(
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens,
        num_gpu_blocks=num_gpu_blocks,
        block_size=block_size,
        max_model_len=max_model_len,
        enable_chunked_prefill=enable_chunked_prefill,
        policy=policy,
    )
    timer = timing.StepTimer(profile, slowdown=slowdown, time_scale=time_scale)
    return core.EngineCore(engine_config, timer, token_events=token_events)


def spec(
    request_id: str,
    prompt: int,
    output: int,
    *,
    priority: int = 0,
    tpot_s: float | None = None,
) -> requests.RequestSpec:
    return requests.RequestSpec(
        request_id=request_id,
        prompt_tokens=prompt,
        output_tokens=output,
        priority=priority,
        tpot_target_s=tpot_s,
    )


def run_to_idle(engine: core.EngineCore) -> list[events.EngineEvent]:
    """Every event until the engine has nothing left to do."""
    produced: list[events.EngineEvent] = []
    while (due := engine.next_event_time()) is not None:
        produced.extend(engine.advance(due))
    return produced


def steps_until_idle(engine: core.EngineCore) -> list[core.StepView]:
    """Every step the engine takes until it is idle, in order."""
    steps: list[core.StepView] = []
    while (step := engine.step_in_flight()) is not None:
        steps.append(step)
        engine.advance(step.end)
    return steps


def finished(produced: list[events.EngineEvent]) -> dict[str, events.Finished]:
    return {e.request_id: e for e in produced if isinstance(e, events.Finished)}


def first_token_order(produced: list[events.EngineEvent]) -> list[str]:
    return [e.request_id for e in produced if isinstance(e, events.FirstToken)]
