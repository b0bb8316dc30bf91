"""Labelled co-locations turned into arrays: what training, the baselines and evaluation read."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from sloserve.placement import features
from sloserve.placement.dataset import IDLE_KIND, Colocation, ColocationDataset
from sloserve.placement.metrics import SharingMode
from sloserve.placement.series import FloatArray

__all__ = ["Examples", "build_examples"]


@dataclasses.dataclass(frozen=True, eq=False)
class Examples:
    """`inputs[i]` (SLOTS x steps x metrics), `modes[i]` (0 time-slicing, 1 MPS) and `targets[i]`
    (P) of row `rows[i]`."""

    inputs: FloatArray
    modes: FloatArray
    targets: FloatArray
    rows: tuple[Colocation, ...]

    def __len__(self) -> int:
        return len(self.rows)


def build_examples(
    dataset: ColocationDataset, rows: Sequence[Colocation], *, steps: int
) -> Examples:
    """Each row's candidate and co-runner solo series (under the row's mode), stacked over the
    dataset's metrics and resampled to `steps`. Idle co-runners count as empty neighbour slots."""
    if not rows:
        raise ValueError("no labelled co-locations to build examples from")
    prepared = {
        key: features.PreparedSeries.of(series, metrics=dataset.metrics, steps=steps)
        for key, series in dataset.solo.items()
    }
    inputs = [
        features.stack_inputs(
            prepared[(row.mode, row.kind)],
            [prepared[(row.mode, k)] for k in row.co_runners if k != IDLE_KIND],
            prepared[(row.mode, IDLE_KIND)],
        )
        for row in rows
    ]
    return Examples(
        inputs=np.stack(inputs).astype(np.float32),
        modes=np.array([SharingMode.code(row.mode) for row in rows], dtype=np.float32),
        targets=np.array([row.p for row in rows], dtype=np.float32),
        rows=tuple(rows),
    )
