"""Reading the co-location dataset (schema `sloserve.colocation-dataset/v1`, documented in
docs/colocation-dataset.md) into labelled co-locations and solo series.

A labelled co-location is one workload (the candidate) measured beside one or two co-runners
under one sharing mode; its label is CloudFormer's P = solo step time / co-located step time,
in (0, 1] up to measurement noise (1 = no slowdown). Slowdown, the factor placement reasons in,
is 1 / P.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from sloserve.placement.series import MetricSeries

__all__ = ["IDLE_KIND", "SCHEMA", "Colocation", "ColocationDataset", "load_dataset"]

SCHEMA = "sloserve.colocation-dataset/v1"
#: The kind that runs nothing: a resident but inactive process. It fills empty neighbour slots.
IDLE_KIND = "idle"


@dataclasses.dataclass(frozen=True)
class Colocation:
    """One labelled row: `kind` measured beside `co_runners` (sorted; may include idle)."""

    mode: str
    kind: str
    co_runners: tuple[str, ...]
    p: float

    def involves(self, kinds: frozenset[str]) -> bool:
        """Whether the candidate or any co-runner is one of `kinds`."""
        return self.kind in kinds or any(runner in kinds for runner in self.co_runners)


@dataclasses.dataclass(frozen=True, eq=False)
class ColocationDataset:
    """Labelled co-locations and each (mode, kind)'s solo series, over the metrics every pass
    recorded.

    Attributes:
        metrics: metric names common to all passes, in the first pass's order.
        kinds: every workload kind, with its description (family, batch, context, ...).
        heldout_kinds: kinds the collector marked to keep out of training.
        solo: (mode, kind) -> that kind's solo series under that mode.
        rows: the labelled co-locations; rows without a label are counted in `unlabelled`.
        device: the GPU the data was measured on.
    """

    metrics: tuple[str, ...]
    kinds: Mapping[str, Mapping[str, Any]]
    heldout_kinds: tuple[str, ...]
    solo: Mapping[tuple[str, str], MetricSeries]
    rows: tuple[Colocation, ...]
    unlabelled: int
    device: str

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(sorted({mode for mode, _ in self.solo}))

    def split(self, heldout: Sequence[str]) -> tuple[list[Colocation], list[Colocation]]:
        """(training rows, evaluation rows): a row involving any held-out kind, as candidate or
        co-runner, is evaluation-only, so the model never sees those kinds' series in training."""
        held = frozenset(heldout)
        unknown = held - set(self.kinds)
        if unknown:
            raise ValueError(f"held-out kinds {sorted(unknown)} are not in the dataset")
        train = [row for row in self.rows if not row.involves(held)]
        evaluate = [row for row in self.rows if row.involves(held)]
        return train, evaluate


def load_dataset(path: pathlib.Path) -> ColocationDataset:
    """Reads a dataset file (.json or .json.gz). Raises ValueError naming what is wrong when the
    file is not a co-location dataset or lacks a solo series a labelled row needs."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as source:
        document = json.load(source)
    return parse_dataset(document, origin=str(path))


def parse_dataset(document: Mapping[str, Any], *, origin: str = "dataset") -> ColocationDataset:
    """The dataset held in an already-parsed document; see `load_dataset`."""
    if document.get("schema") != SCHEMA:
        raise ValueError(
            f"{origin}: schema is {document.get('schema')!r}, expected {SCHEMA!r}; "
            "build the dataset with bench/gpu/merge_colocation.py"
        )
    passes: Mapping[str, Any] = document["passes"]
    if not passes:
        raise ValueError(f"{origin}: the dataset has no passes")
    metric_lists = [list(details["metrics"]) for details in passes.values()]
    common = [name for name in metric_lists[0] if all(name in m for m in metric_lists[1:])]
    solo: dict[tuple[str, str], MetricSeries] = {}
    for mode, details in passes.items():
        for kind, record in details["solo"].items():
            series = MetricSeries.from_samples(details["metrics"], record["series"])
            solo[(mode, kind)] = series.select(common)
    rows: list[Colocation] = []
    unlabelled = 0
    for row in document["rows"]:
        if row.get("p_cloudformer") is None:
            unlabelled += 1
            continue
        colocation = Colocation(
            mode=row["mode"],
            kind=row["kind"],
            co_runners=tuple(sorted(row["co_runners"])),
            p=float(row["p_cloudformer"]),
        )
        for kind in (colocation.kind, *colocation.co_runners):
            if (colocation.mode, kind) not in solo:
                raise ValueError(
                    f"{origin}: row {row.get('run_id')} needs the solo series of {kind!r} under "
                    f"{colocation.mode!r}, which the dataset lacks"
                )
        rows.append(colocation)
    return ColocationDataset(
        metrics=tuple(common),
        kinds=document["kinds"],
        heldout_kinds=tuple(document.get("heldout_kinds", ())),
        solo=solo,
        rows=tuple(rows),
        unlabelled=unlabelled,
        device=str(document.get("device", {}).get("name", "unknown")),
    )
