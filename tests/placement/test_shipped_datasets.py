"""The co-location datasets committed under data/colocation/ read as the predictor reads them."""

from __future__ import annotations

import pathlib

import pytest

from sloserve.placement.dataset import IDLE_KIND, load_dataset

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "colocation"
SHIPPED = {
    "h100_colocation.json.gz": "NVIDIA H100 80GB HBM3",
    "h200_colocation.json.gz": "NVIDIA H200",
}
MODES = {
    "h100_colocation.json.gz": {"timeslice", "mps"},
    # and MPS with every client limited to half and to a quarter of the SMs
    "h200_colocation.json.gz": {"timeslice", "mps", "mps_t50", "mps_t25"},
}


@pytest.mark.parametrize("file_name", sorted(SHIPPED))
def test_each_shipped_dataset_holds_its_modes_and_its_heldout_kinds(file_name: str) -> None:
    dataset = load_dataset(DATA / file_name)

    assert dataset.device == SHIPPED[file_name]
    assert set(dataset.modes) == MODES[file_name]
    for mode in dataset.modes:
        candidates = {row.kind for row in dataset.rows if row.mode == mode}
        assert set(dataset.heldout_kinds) <= candidates, f"{mode}: a held-out kind has no row"
        assert (mode, IDLE_KIND) in dataset.solo
    # a label far outside (0, 1] would be a measuring fault, not interference
    assert all(0 < row.p <= 1.25 for row in dataset.rows)


def test_the_h200_dataset_adds_kinds_and_keeps_the_h100_ones() -> None:
    h100 = load_dataset(DATA / "h100_colocation.json.gz")
    h200 = load_dataset(DATA / "h200_colocation.json.gz")

    assert set(h100.kinds) < set(h200.kinds)
    families = {kind["family"] for kind in h200.kinds.values()}
    assert {"encoder", "peft", "mixed"} <= families
    assert h200.metrics == h100.metrics
    assert max(len(row.co_runners) for row in h200.rows) == 3
