"""Fixtures of the chart tests: the helm binary (built into the cache with the local cluster's
binaries on first use)."""

from __future__ import annotations

import pathlib

import pytest

from sloserve_dev import build


@pytest.fixture(scope="session")
def helm() -> pathlib.Path:
    return build.build() / "helm"
