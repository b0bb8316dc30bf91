"""Step times from the profile: prefill, decode and mixed steps, slowdown, CPU overhead, scale."""

from __future__ import annotations

import pytest
from engine_helpers import PROFILE

from sloserve.engine import synthetic_profile, timing
from sloserve.scheduling import latency_profile


def _without_mixed() -> latency_profile.LatencyProfile:
    return PROFILE.model_copy(update={"mixed": ()})


def test_a_prefill_step_takes_the_profiles_time_at_a_measured_point() -> None:
    timer = timing.StepTimer(PROFILE)
    point = PROFILE.prefill[3]
    assert timer.gpu_ms(prefill_tokens=point.tokens, decode_batch=0, decode_context=0) == point.ms


def test_prefill_is_piecewise_linear_between_measured_token_counts() -> None:
    timer = timing.StepTimer(PROFILE)
    low, high = PROFILE.prefill[6], PROFILE.prefill[7]
    middle = (low.tokens + high.tokens) // 2
    expected = (low.ms + high.ms) / 2
    ms = timer.gpu_ms(prefill_tokens=middle, decode_batch=0, decode_context=0)
    assert ms == pytest.approx(expected)


def test_decode_is_bilinear_in_batch_and_context() -> None:
    timer = timing.StepTimer(PROFILE)
    corners = {(d.batch, d.context): d.ms for d in PROFILE.decode}
    b0, b1, c0, c1 = 16, 32, 1024, 2048
    expected = (corners[b0, c0] + corners[b1, c0] + corners[b0, c1] + corners[b1, c1]) / 4
    # batch 24 is halfway in batch; context 1536 halfway in context
    ms = timer.gpu_ms(prefill_tokens=0, decode_batch=24, decode_context=1536)
    assert ms == pytest.approx(expected)


def test_without_mixed_points_a_chunked_step_is_decode_plus_the_extra_prefill_rows() -> None:
    timer = timing.StepTimer(_without_mixed())
    decode = timer.gpu_ms(prefill_tokens=0, decode_batch=64, decode_context=1024)
    with_rows = timer.gpu_ms(prefill_tokens=1024 + 64, decode_batch=0, decode_context=0)
    rows_alone = timer.gpu_ms(prefill_tokens=64, decode_batch=0, decode_context=0)
    mixed = timer.gpu_ms(prefill_tokens=1024, decode_batch=64, decode_context=1024)
    assert mixed == pytest.approx(decode + with_rows - rows_alone)


def test_with_mixed_points_a_measured_chunked_step_is_reproduced_exactly() -> None:
    scaled = [m.model_copy(update={"ms": m.ms * 1.3}) for m in PROFILE.mixed]
    timer = timing.StepTimer(PROFILE.model_copy(update={"mixed": tuple(scaled)}))
    for point in scaled:
        ms = timer.gpu_ms(
            prefill_tokens=point.prefill_tokens,
            decode_batch=point.batch,
            decode_context=point.context,
        )
        assert ms == pytest.approx(point.ms)


def test_step_time_is_gpu_time_times_slowdown_plus_cpu_overhead_times_scale() -> None:
    timer = timing.StepTimer(PROFILE, slowdown=2.0, time_scale=0.5, cpu_overhead_ms=3.0)
    gpu = timer.gpu_ms(prefill_tokens=0, decode_batch=8, decode_context=512)
    seconds = timer.step_seconds(prefill_tokens=0, decode_batch=8, decode_context=512)
    assert seconds == pytest.approx((gpu * 2.0 + 3.0) * 0.5 / 1000)


def test_the_profiles_cpu_overhead_is_used_unless_overridden() -> None:
    assert timing.StepTimer(PROFILE).cpu_overhead_ms == PROFILE.cpu_overhead_ms_per_step
    assert timing.StepTimer(PROFILE, cpu_overhead_ms=0.0).cpu_overhead_ms == 0.0


def test_time_scale_zero_makes_every_step_instant() -> None:
    timer = timing.StepTimer(PROFILE, time_scale=0.0)
    assert timer.step_seconds(prefill_tokens=4096, decode_batch=64, decode_context=2048) == 0.0


@pytest.mark.parametrize("factor", [0.0, -1.0, float("nan"), float("inf")])
def test_a_slowdown_that_is_not_a_positive_number_is_refused(factor: float) -> None:
    timer = timing.StepTimer(PROFILE)
    with pytest.raises(ValueError, match="slowdown"):
        timer.slowdown = factor


def test_the_synthetic_profile_is_near_published_h100_decode_latency() -> None:
    # published vLLM TPOT p50 at concurrency 1 on an H100 (Llama-3.1-8B): 6.5 ms
    timer = timing.StepTimer(synthetic_profile.build())
    seconds = timer.step_seconds(prefill_tokens=0, decode_batch=1, decode_context=1024)
    assert seconds * 1000 == pytest.approx(6.5, rel=0.15)


def test_a_fixed_batch_step_function_gives_the_decode_step_seconds() -> None:
    timer = timing.StepTimer(PROFILE, slowdown=1.7, time_scale=0.5)
    for batch in (1, 7, 24, 300):
        step_seconds = timer.decode_step_function(batch)
        for context in (0.0, 1.0, 333.5, 1024.0, 1536.0, 9000.0, 200_000.0):
            assert step_seconds(context) == timer.decode_step_seconds(batch, context)
            assert step_seconds(context) == timer.step_seconds(
                prefill_tokens=0, decode_batch=batch, decode_context=context
            )


def test_a_slowdown_or_time_scale_change_applies_to_later_decode_steps() -> None:
    timer = timing.StepTimer(PROFILE)
    before = timer.decode_step_seconds(8, 500.0)
    timer.slowdown = 2.0
    slower = timer.decode_step_seconds(8, 500.0)
    assert slower > before
    assert timer.decode_step_function(8)(500.0) == slower
    timer.time_scale = 0.5
    assert timer.decode_step_seconds(8, 500.0) == pytest.approx(slower / 2)
