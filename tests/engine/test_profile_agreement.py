"""Acceptance: the engine's step times match the measured profile within 10% at every point.

Each point is replayed through the engine (requests arranged so that one step is exactly the
measured situation), so this checks the batching as well as the interpolation.
"""

from __future__ import annotations

import pytest
from engine_helpers import PROFILE

from sloserve.engine import calibration
from sloserve.scheduling import latency_profile, profile_files

TOLERANCE = 0.10


def _assert_within_tolerance(report: calibration.CalibrationReport) -> None:
    off = [p for p in report.points if p.relative_error > TOLERANCE]
    assert not off, f"{len(off)} of {len(report.points)} points off by more than 10%: {off[:5]}"
    assert report.max_relative_error <= TOLERANCE


def test_every_point_of_the_synthetic_profile_is_reproduced_within_10_percent() -> None:
    report = calibration.replay_profile(PROFILE)
    kinds = {p.kind for p in report.points}
    assert kinds == {"prefill", "decode", "mixed"}
    assert len(report.points) == len(PROFILE.prefill) + len(PROFILE.decode) + len(PROFILE.mixed)
    _assert_within_tolerance(report)


def test_mixed_steps_that_differ_from_the_composition_are_still_reproduced() -> None:
    # a measured chunked step 40% slower than decode + extra prefill rows would predict
    slower = tuple(m.model_copy(update={"ms": m.ms * 1.4}) for m in PROFILE.mixed)
    report = calibration.replay_profile(PROFILE.model_copy(update={"mixed": slower}))
    _assert_within_tolerance(report)


@pytest.mark.parametrize("name", profile_files.available_profiles())
def test_every_point_of_each_shipped_profile_is_reproduced_within_10_percent(name: str) -> None:
    profile: latency_profile.LatencyProfile = profile_files.load_profile(name)
    _assert_within_tolerance(calibration.replay_profile(profile))
