import json

import pytest

from sloserve.scheduling import latency_fit, latency_profile


def _fit(document):
    return latency_fit.fit_latency_model(latency_profile.parse_profile(json.dumps(document)))


def test_exact_synthetic_profile_recovers_the_true_coefficients(profile_document, latency):
    fitted = _fit(profile_document())

    prefill, truth = fitted.model.prefill, latency.prefill
    assert prefill.floor_s == pytest.approx(truth.floor_s, rel=1e-9)
    assert prefill.slope_s_per_token == pytest.approx(truth.slope_s_per_token, rel=1e-9)
    assert prefill.intercept_s == pytest.approx(truth.intercept_s, rel=1e-6)
    # The true knee is at 400 tokens; the last flat point measured is 256.
    assert prefill.threshold_tokens == 256
    decode, true_decode = fitted.model.decode, latency.decode
    assert decode.batch_context_s == pytest.approx(true_decode.batch_context_s, rel=1e-6)
    assert decode.batch_s == pytest.approx(true_decode.batch_s, rel=1e-6)
    assert decode.context_s == pytest.approx(true_decode.context_s, rel=1e-6)
    assert decode.constant_s == pytest.approx(true_decode.constant_s, rel=1e-6)
    assert fitted.model.cpu_overhead_s == pytest.approx(latency.cpu_overhead_s)
    assert fitted.prefill_fit.max_rel_error < 1e-9
    assert fitted.decode_fit.max_rel_error < 1e-9


def test_noisy_profile_is_recovered_within_tolerance_and_reports_its_error(
    profile_document, latency
):
    # Deterministic ±3 % jitter: alternating signs, so no bias for the fit to absorb.
    fitted = _fit(profile_document(noise=lambda index: 1.03 if index % 2 else 0.97))

    assert fitted.model.prefill.slope_s_per_token == pytest.approx(
        latency.prefill.slope_s_per_token, rel=0.05
    )
    assert fitted.model.prefill.floor_s == pytest.approx(latency.prefill.floor_s, rel=0.05)
    for batch, context in [(1, 128), (32, 2048), (256, 4096)]:
        assert fitted.model.decode.predict_s(batch, context) == pytest.approx(
            latency.decode.predict_s(batch, context), rel=0.05
        )
    for report in (fitted.prefill_fit, fitted.decode_fit):
        assert 0.02 < report.max_rel_error < 0.06
        assert 0 < report.mean_rel_error <= report.max_rel_error
    assert fitted.prefill_fit.points == 9
    assert fitted.decode_fit.points == 15


def test_profile_without_a_flat_region_fits_a_pure_line(profile_document):
    fitted = _fit(profile_document(prefill_tokens=(1024, 2048, 4096, 8192)))

    prefill = fitted.model.prefill
    assert prefill.threshold_tokens == 1024
    assert prefill.slope_s_per_token == pytest.approx(2e-5, rel=1e-9)
    assert prefill.predict_s(512) == pytest.approx(prefill.predict_s(1024))
    assert fitted.prefill_fit.max_rel_error < 1e-9


def test_decode_points_on_a_single_context_cannot_determine_the_model(profile_document):
    with pytest.raises(ValueError, match="profile decode: the points must vary batch and context"):
        _fit(profile_document(contexts=(1024,)))


def test_prefill_points_at_one_token_count_cannot_determine_the_model(profile_document):
    with pytest.raises(ValueError, match="profile prefill"):
        _fit(profile_document(prefill_tokens=(512, 512)))


def test_max_batched_tokens_is_carried_into_the_model(profile_document):
    profile = latency_profile.parse_profile(json.dumps(profile_document()))

    fitted = latency_fit.fit_latency_model(profile, max_batched_tokens=2048)

    assert fitted.model.max_batched_tokens == 2048
