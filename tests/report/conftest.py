"""Fixtures of the report's tests: the recorded window and its report, computed once."""

from __future__ import annotations

import pytest

from report import recorded
from sloserve.report import model, samples


@pytest.fixture(scope="module")
def recorded_window() -> samples.WindowSamples:
    return recorded.recorded_window()


@pytest.fixture(scope="module")
def recorded_report() -> model.Report:
    return recorded.recorded_report()
