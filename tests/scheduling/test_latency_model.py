import dataclasses

import pytest

from sloserve.scheduling import latency_model


def test_prefill_is_flat_up_to_the_threshold_then_linear(latency):
    prefill = latency.prefill

    assert prefill.predict_s(1) == pytest.approx(0.010)
    assert prefill.predict_s(400) == pytest.approx(0.010)
    assert prefill.predict_s(1000) == pytest.approx(0.022)
    assert prefill.predict_s(4000) == pytest.approx(0.082)


def test_prefill_time_adds_one_cpu_overhead_per_chunk_and_splits_long_prompts(latency):
    assert latency.prefill_time_s(0) == 0.0
    assert latency.prefill_time_s(1000) == pytest.approx(0.022 + 0.001)
    # 10,000 tokens at 8,192 per step: a full chunk and a 1,808-token chunk, two overheads.
    expected = latency.prefill.predict_s(8192) + latency.prefill.predict_s(1808) + 2 * 0.001
    assert latency.prefill_time_s(10_000) == pytest.approx(expected)


def test_decode_step_is_bilinear_in_batch_and_context_plus_overhead(latency):
    # 1e-5·B·L + 0.05·B + 5e-4·L + 6 (ms), plus 1 ms of CPU.
    assert latency.decode_step_time_s(1, 0) == pytest.approx(0.00705)
    assert latency.decode_step_time_s(64, 2048) == pytest.approx(
        (1e-5 * 64 * 2048 + 0.05 * 64 + 5e-4 * 2048 + 6.0 + 1.0) / 1e3
    )


def test_prefill_never_predicts_less_for_more_tokens(latency):
    times = [latency.prefill_time_s(tokens) for tokens in range(0, 20_000, 97)]

    assert times == sorted(times)


def test_prefill_model_refuses_a_negative_slope():
    with pytest.raises(ValueError, match="prefill slope_s_per_token"):
        latency_model.PrefillModel(threshold_tokens=10, floor_s=0.01, slope_s_per_token=-1e-5)


def test_one_long_prompt_pays_its_chunks_attention_over_the_chunks_before(latency):
    quadratic = dataclasses.replace(latency.prefill, quadratic_s_per_token2=1e-9)
    chunked = latency_model.LatencyModel(
        prefill=quadratic, decode=latency.decode, cpu_overhead_s=0.001, max_batched_tokens=1000
    )

    # 2500 tokens in chunks of 1000, 1000 and 500: the queue view prices each chunk alone; the
    # one-prompt view adds q·(2500² − 1000² − 1000² − 500²) for attention across chunks.
    extra = chunked.prompt_prefill_time_s(2500) - chunked.prefill_time_s(2500)
    assert extra == pytest.approx(1e-9 * (2500**2 - 2 * 1000**2 - 500**2))
    assert chunked.prompt_prefill_time_s(800) == chunked.prefill_time_s(800)


def test_a_scaled_model_stretches_gpu_times_and_keeps_the_cpu_overhead(latency):
    scaled = latency.scaled(prefill=2.0, decode=0.5)

    assert scaled.prefill.predict_s(3000) == pytest.approx(2 * latency.prefill.predict_s(3000))
    assert scaled.decode.predict_s(32, 1024) == pytest.approx(
        0.5 * latency.decode.predict_s(32, 1024)
    )
    assert scaled.cpu_overhead_s == latency.cpu_overhead_s
