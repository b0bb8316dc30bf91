"""The simulator's gateway calibrating its latency model online, on the gateway's code."""

import math

import pytest
from sim_helpers import PROFILE, scorpio_workload

from sloserve.engine import profiles
from sloserve.scheduling import calibration, latency_fit
from sloserve.sim import settings, simulator, workload


def _scaled_profile(factor, *, prefill_factor=None):
    """The synthetic profile with every GPU time `factor` times as long (a wrong prior), its
    prefill times `prefill_factor` times when given."""
    prefill_factor = factor if prefill_factor is None else prefill_factor
    return PROFILE.model_copy(
        update={
            "name": "synthetic-scaled",
            "prefill": tuple(
                p.model_copy(update={"ms": p.ms * prefill_factor}) for p in PROFILE.prefill
            ),
            "decode": tuple(p.model_copy(update={"ms": p.ms * factor}) for p in PROFILE.decode),
            "mixed": (),
        }
    )


def _run(requests, **fields):
    config = settings.SimulationConfig(policy="scorpio-full", profile=PROFILE, **fields)
    return simulator.simulate(requests, config)


def test_a_prior_twice_too_slow_is_calibrated_to_the_engines_speed():
    requests = scorpio_workload(count=400, qps=20.0)

    # the rule's smoothing gain (the simulator's default follows changes faster, and its last
    # value jitters by more than this test's tolerance)
    gentle = calibration.CalibrationSettings()
    exact = _run(requests, calibrate=True, calibration_settings=gentle)
    result = _run(
        requests,
        predictor_profile=_scaled_profile(2.0),
        calibrate=True,
        calibration_settings=gentle,
    )

    # against what an exact prior settles on: the fit's own miss of the simulated steps, up to
    # 12 % on prefill (see the next test)
    _, exact_prefill, exact_decode = exact.calibration_trace[-1]
    _, prefill, decode = result.calibration_trace[-1]
    assert prefill / exact_prefill == pytest.approx(0.5, rel=0.15)
    assert decode / exact_decode == pytest.approx(0.5, rel=0.1)


def test_the_prior_of_a_smaller_model_still_learns_prefill_from_busy_engines():
    # An 8B profile believed on 32B engines: a busy engine rarely runs a prefill alone, and the
    # prior predicts every chunk small beside its decode part; the mixed steps must still teach
    # the prefill factor (judged at the chunk's share of its step, it stayed near 1.9).
    truth = profiles.resolve("h200-qwen2.5-32b")
    believed = profiles.resolve("h200-llama3-8b")
    requests = workload.build_workload(
        count=1600, rate_rps=6.0, limits=workload.SCORPIO_LIMITS, seed=0
    )
    config = settings.SimulationConfig(
        policy="scorpio-full", profile=truth, predictor_profile=believed, calibrate=True
    )

    _, prefill, _ = simulator.simulate(requests, config).calibration_trace[-1]

    true_fit = latency_fit.fit_latency_model(truth).model.prefill
    believed_fit = latency_fit.fit_latency_model(believed).model.prefill
    ratios = [true_fit.predict_s(n) / believed_fit.predict_s(n) for n in (256, 512, 1024)]
    assert min(ratios) * 0.9 <= prefill <= max(ratios) * 1.1


def test_an_exact_prior_moves_no_further_than_its_fitted_models_own_error():
    requests = scorpio_workload(count=300, qps=20.0)
    fit = latency_fit.fit_latency_model(PROFILE)

    result = _run(requests, calibrate=True)

    _, prefill, decode = result.calibration_trace[-1]
    # What calibration corrects here is only the fit's miss of the simulated steps (the
    # synthetic roofline's max() is not in the model's form), and for prefill that chunked
    # steps cost a little less than decode + marginal prefill.
    assert abs(math.log(decode)) <= fit.decode_fit.max_rel_error
    assert abs(math.log(prefill)) <= 0.12


def test_a_hidden_slowdown_is_learnt_and_an_oracle_is_told_of_it():
    requests = scorpio_workload(count=400, qps=10.0)
    changes = ((requests[50].arrival_s, 1.5),)

    calibrated = _run(requests, calibrate=True, speed_changes=changes)
    static = _run(requests, speed_changes=changes)

    _, _, decode = calibrated.calibration_trace[-1]
    assert decode == pytest.approx(1.5, rel=0.1)
    assert static.calibration_trace == ()
    # the slower engines' steps show in every served request after the change
    late = [r for r in static.records if r.arrival_s > changes[0][0] and r.ttft_s is not None]
    assert late


def test_speed_changes_must_have_a_time_and_a_positive_factor():
    with pytest.raises(ValueError, match="speed_changes"):
        settings.SimulationConfig(policy="fcfs", profile=PROFILE, speed_changes=((1.0, 0.0),))
