"""Measured solo series per workload kind: where a cluster without GPU telemetry (the local
cluster, or a node whose exporter is not scraped) gets the series the predictor needs.

Each kind's series is the one measured when it ran alone on the GPU for the co-location dataset,
under each sharing mode. The packaged copy is `models/solo_series.json`, written by
`sloserve placement train` next to the model, from the same dataset.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping
from typing import Any

from sloserve.placement import features
from sloserve.placement.dataset import IDLE_KIND, ColocationDataset
from sloserve.placement.predictor import packaged_file
from sloserve.placement.series import MetricSeries

__all__ = ["CATALOGUE_FILE", "SCHEMA", "SoloCatalogue"]

CATALOGUE_FILE = "solo_series.json"
SCHEMA = "sloserve.solo-series/v1"


class SoloCatalogue:
    """(sharing mode, workload kind) -> that kind's solo series, all over the same metrics."""

    def __init__(
        self, series: Mapping[tuple[str, str], MetricSeries], *, device: str, source: str
    ) -> None:
        if not series:
            raise ValueError("a solo catalogue needs at least one series")
        self._series = dict(series)
        self.device = device
        self.source = source
        modes = {mode for mode, _ in self._series}
        for mode in modes:
            if (mode, IDLE_KIND) not in self._series:
                raise ValueError(f"the catalogue has no {IDLE_KIND!r} series under {mode!r}")

    @classmethod
    def from_dataset(cls, dataset: ColocationDataset, *, source: str) -> SoloCatalogue:
        return cls(dataset.solo, device=dataset.device, source=source)

    @classmethod
    def load(cls, path: pathlib.Path | None = None) -> SoloCatalogue:
        """The catalogue at `path`, or the packaged one."""
        chosen = path if path is not None else packaged_file(CATALOGUE_FILE)
        document = json.loads(chosen.read_text())
        if document.get("schema") != SCHEMA:
            raise ValueError(f"{chosen}: schema {document.get('schema')!r}, expected {SCHEMA!r}")
        names = document["metrics"]
        series = {
            (mode, kind): MetricSeries.from_samples(names, samples)
            for mode, kinds in document["modes"].items()
            for kind, samples in kinds.items()
        }
        return cls(series, device=document["device"], source=document["source"])

    def to_document(self) -> dict[str, Any]:
        first = next(iter(self._series.values()))
        modes: dict[str, dict[str, list[list[float]]]] = {}
        for (mode, kind), series in sorted(self._series.items()):
            rows = series.select(first.names).values.round(3).tolist()
            modes.setdefault(mode, {})[kind] = rows
        return {
            "schema": SCHEMA,
            "device": self.device,
            "source": self.source,
            "metrics": list(first.names),
            "modes": modes,
        }

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({kind for _, kind in self._series}))

    def has(self, mode: str, kind: str) -> bool:
        return (mode, kind) in self._series

    def series(self, mode: str, kind: str) -> MetricSeries:
        """The solo series of `kind` under `mode`; raises KeyError listing the known kinds."""
        try:
            return self._series[(mode, kind)]
        except KeyError:
            raise KeyError(
                f"no solo series of workload kind {kind!r} under {mode!r}; known kinds: "
                f"{', '.join(self.kinds)}"
            ) from None

    def heaviest_kind(self, mode: str) -> str:
        """The kind with the highest mean load metric under `mode`: the conservative stand-in
        for a GPU workload whose kind is unknown."""
        candidates = [(kind, s) for (m, kind), s in self._series.items() if m == mode]
        return max(candidates, key=lambda item: item[1].mean(features.LOAD_METRIC))[0]
