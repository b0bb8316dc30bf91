"""Measured solo series per GPU product and workload kind: where a cluster without GPU telemetry
(the local cluster, or a node whose exporter is not scraped) gets the series the predictor needs.

Each kind's series is the one measured when it ran alone on the GPU for a co-location dataset,
under each sharing mode, on each GPU product that has a dataset (`H100`, `H200`). The packaged
copy is `models/solo_series.json`, written by `sloserve placement train-trees` next to the
model, from the same datasets.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from sloserve.placement import features
from sloserve.placement.dataset import IDLE_KIND, ColocationDataset
from sloserve.placement.gpus import gpu_key
from sloserve.placement.predictor import packaged_file
from sloserve.placement.series import MetricSeries

__all__ = ["CATALOGUE_FILE", "SCHEMA", "SCHEMA_V1", "SoloCatalogue"]

CATALOGUE_FILE = "solo_series.json"
SCHEMA = "sloserve.solo-series/v2"
#: One GPU's catalogue, as the first packaged predictor wrote it; still read.
SCHEMA_V1 = "sloserve.solo-series/v1"

#: (GPU product, sharing mode, workload kind)
Key = tuple[str, str, str]


class SoloCatalogue:
    """(GPU product, sharing mode, workload kind) -> that kind's solo series, all over the same
    metrics. Lookups without a GPU product use `default_gpu`, the first GPU given."""

    def __init__(
        self,
        series: Mapping[Key, MetricSeries],
        *,
        devices: Mapping[str, str],
        source: str,
    ) -> None:
        if not series:
            raise ValueError("a solo catalogue needs at least one series")
        self._series = dict(series)
        self.devices = dict(devices)
        self.source = source
        self.gpus: tuple[str, ...] = tuple(dict.fromkeys(gpu for gpu, _, _ in self._series))
        self.default_gpu = self.gpus[0]
        for gpu, mode in {(gpu, mode) for gpu, mode, _ in self._series}:
            if (gpu, mode, IDLE_KIND) not in self._series:
                raise ValueError(
                    f"the catalogue has no {IDLE_KIND!r} series under {mode!r} on {gpu}"
                )

    @property
    def device(self) -> str:
        """The default GPU's device name."""
        return self.devices.get(self.default_gpu, self.default_gpu)

    @classmethod
    def from_datasets(cls, datasets: Sequence[ColocationDataset], *, source: str) -> SoloCatalogue:
        """One catalogue over every dataset's solo series; each dataset's GPU is keyed by its
        device name (`gpus.gpu_key`)."""
        series: dict[Key, MetricSeries] = {}
        devices: dict[str, str] = {}
        for dataset in datasets:
            gpu = dataset_gpu(dataset)
            devices[gpu] = dataset.device
            for (mode, kind), values in dataset.solo.items():
                series[(gpu, mode, kind)] = values
        return cls(series, devices=devices, source=source)

    @classmethod
    def from_dataset(cls, dataset: ColocationDataset, *, source: str) -> SoloCatalogue:
        return cls.from_datasets([dataset], source=source)

    @classmethod
    def load(cls, path: pathlib.Path | None = None) -> SoloCatalogue:
        """The catalogue at `path`, or the packaged one."""
        chosen = path if path is not None else packaged_file(CATALOGUE_FILE)
        document = json.loads(chosen.read_text())
        schema = document.get("schema")
        names = document.get("metrics")
        if schema == SCHEMA_V1:
            gpu = gpu_key(document["device"]) or document["device"]
            by_gpu = {gpu: {"device": document["device"], "modes": document["modes"]}}
        elif schema == SCHEMA:
            by_gpu = document["gpus"]
        else:
            raise ValueError(f"{chosen}: schema {schema!r}, expected {SCHEMA!r}")
        series = {
            (gpu, mode, kind): MetricSeries.from_samples(names, samples)
            for gpu, entry in by_gpu.items()
            for mode, kinds in entry["modes"].items()
            for kind, samples in kinds.items()
        }
        devices = {gpu: str(entry["device"]) for gpu, entry in by_gpu.items()}
        return cls(series, devices=devices, source=document["source"])

    def to_document(self) -> dict[str, Any]:
        first = next(iter(self._series.values()))
        gpus: dict[str, dict[str, Any]] = {}
        for (gpu, mode, kind), series in sorted(self._series.items()):
            rows = series.select(first.names).values.round(3).tolist()
            entry = gpus.setdefault(gpu, {"device": self.devices.get(gpu, gpu), "modes": {}})
            entry["modes"].setdefault(mode, {})[kind] = rows
        return {
            "schema": SCHEMA,
            "source": self.source,
            "metrics": list(first.names),
            "gpus": gpus,
        }

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every kind measured on any GPU."""
        return tuple(sorted({kind for _, _, kind in self._series}))

    def gpu_or_default(self, gpu: str | None) -> str:
        """`gpu` when the catalogue has it, else the default GPU."""
        return gpu if gpu in self.gpus else self.default_gpu

    def has(self, mode: str, kind: str, gpu: str | None = None) -> bool:
        return (self.gpu_or_default(gpu), mode, kind) in self._series

    def measured_on(self, mode: str, kind: str) -> tuple[str, ...]:
        """The GPUs on which `kind` was measured under `mode`."""
        return tuple(gpu for gpu in self.gpus if (gpu, mode, kind) in self._series)

    def series(self, mode: str, kind: str, gpu: str | None = None) -> MetricSeries:
        """The solo series of `kind` under `mode` on `gpu` (default GPU when None or unknown);
        raises KeyError listing the known kinds."""
        chosen = self.gpu_or_default(gpu)
        try:
            return self._series[(chosen, mode, kind)]
        except KeyError:
            raise KeyError(
                f"no solo series of workload kind {kind!r} under {mode!r} on {chosen}; known "
                f"kinds: {', '.join(self.kinds)}"
            ) from None

    def heaviest_kind(self, mode: str, gpu: str | None = None) -> str:
        """The kind with the highest mean load metric under `mode` on `gpu`: the conservative
        stand-in for a GPU workload whose kind is unknown."""
        chosen = self.gpu_or_default(gpu)
        candidates = [(k, s) for (g, m, k), s in self._series.items() if g == chosen and m == mode]
        if not candidates:
            # A mode measured on another GPU only: that GPU's kinds stand in.
            candidates = [(k, s) for (_, m, k), s in self._series.items() if m == mode]
        if not candidates:
            raise KeyError(f"no solo series under {mode!r}; modes: {', '.join(self.modes)}")
        return max(candidates, key=lambda item: item[1].mean(features.LOAD_METRIC))[0]

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(sorted({mode for _, mode, _ in self._series}))


def dataset_gpu(dataset: ColocationDataset) -> str:
    """A dataset's GPU product key, from its device name (the name itself if it has no key)."""
    return gpu_key(dataset.device) or dataset.device
