"""Online calibration: converging on what it observes, bounded on outliers, drift flagged."""

import math

import pytest

from sloserve.scheduling import calibration


def _feed(calibrator, *, prefill_truth, decode_truth, steps, noise=lambda index: 1.0):
    """Observations of engines whose prefill and decode take `*_truth` times the prior's."""
    for index in range(steps):
        model = calibrator.model
        tokens, batch, context = 256 + 97 * (index % 40), 1 + index % 200, 200 + 13 * index
        prior = calibrator.prior
        calibrator.observe_prefill(
            predicted_s=model.prefill.predict_s(tokens),
            observed_s=prior.prefill.predict_s(tokens) * prefill_truth * noise(index),
        )
        calibrator.observe_decode(
            predicted_s=model.decode.predict_s(batch, context),
            observed_s=prior.decode.predict_s(batch, context) * decode_truth * noise(index),
        )


def test_factors_converge_on_the_engines_true_speed(latency):
    calibrator = calibration.LatencyCalibrator(latency)

    _feed(calibrator, prefill_truth=3.0, decode_truth=0.75, steps=300)

    state = calibrator.state()
    assert state.prefill.factor == pytest.approx(3.0, rel=0.02)
    assert state.decode.factor == pytest.approx(0.75, rel=0.02)
    assert calibrator.model.decode.predict_s(64, 2048) == pytest.approx(
        0.75 * latency.decode.predict_s(64, 2048), rel=0.02
    )
    assert state.decode.mean_abs_log_error < 0.02


def test_noisy_observations_still_converge_without_bias(latency):
    calibrator = calibration.LatencyCalibrator(latency)

    _feed(
        calibrator,
        prefill_truth=1.5,
        decode_truth=1.5,
        steps=600,
        noise=lambda index: 1.2 if index % 2 else 1 / 1.2,
    )

    state = calibrator.state()
    assert state.prefill.factor == pytest.approx(1.5, rel=0.05)
    assert state.decode.factor == pytest.approx(1.5, rel=0.05)


def test_one_outlier_moves_a_factor_by_at_most_gain_times_max_step(latency):
    settings = calibration.CalibrationSettings()
    calibrator = calibration.LatencyCalibrator(latency, settings)

    calibrator.observe_decode(predicted_s=0.01, observed_s=10.0)  # a 1000x stall

    factor = calibrator.state().decode.factor
    assert factor == pytest.approx(math.exp(settings.gain * settings.max_step))
    assert factor < 1.04


def test_factors_stay_within_their_bounds_however_wrong_the_prior(latency):
    settings = calibration.CalibrationSettings(gain=0.5)
    calibrator = calibration.LatencyCalibrator(latency, settings)

    for _ in range(200):
        calibrator.observe_prefill(predicted_s=0.01, observed_s=100.0)
        calibrator.observe_decode(predicted_s=0.01, observed_s=1e-6)

    state = calibrator.state()
    assert state.prefill.factor == pytest.approx(settings.max_factor)
    assert state.decode.factor == pytest.approx(settings.min_factor)


def test_a_sustained_bias_after_warm_up_is_flagged_as_drift(latency):
    calibrator = calibration.LatencyCalibrator(latency)

    _feed(calibrator, prefill_truth=1.0, decode_truth=1.0, steps=50)
    settled = calibrator.state()
    _feed(calibrator, prefill_truth=1.0, decode_truth=1.6, steps=10)
    drifting = calibrator.state()

    assert not settled.decode.drifting
    assert drifting.decode.drifting
    assert not drifting.prefill.drifting


def test_the_model_is_republished_only_when_a_factor_moved_enough(latency):
    calibrator = calibration.LatencyCalibrator(latency)
    prior = calibrator.model

    small = calibrator.observe_decode(predicted_s=0.010, observed_s=0.0101)
    large = calibrator.observe_decode(predicted_s=0.010, observed_s=0.02)

    assert small is False
    assert large is True
    assert calibrator.model is not prior
    assert calibrator.model.cpu_overhead_s == prior.cpu_overhead_s


@pytest.mark.parametrize(
    ("field", "value"),
    [("gain", 0.0), ("max_step", -1.0), ("min_factor", 1.5), ("error_weight", 2.0)],
)
def test_settings_out_of_range_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        calibration.CalibrationSettings(**{field: value})
