"""Fixtures of the placement tests: a synthetic dataset in the real schema (never measured)."""

from __future__ import annotations

import pathlib

import pytest

from placement import synthetic_dataset
from sloserve.placement.dataset import ColocationDataset, load_dataset


@pytest.fixture(scope="session")
def synthetic_path(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return synthetic_dataset.write(tmp_path_factory.mktemp("colocation") / "synthetic.json.gz")


@pytest.fixture(scope="session")
def synthetic(synthetic_path: pathlib.Path) -> ColocationDataset:
    return load_dataset(synthetic_path)
