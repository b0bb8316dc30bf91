"""Train the shipped tree predictor on one or more GPUs' co-location datasets without the held-out
kinds, and write the ONNX model and the solo catalogue the extender loads.

Every dataset's held-out kinds are held out of all of them (a kind held out on one GPU is not
trained on from another), and a row involving a held-out kind, as candidate or neighbour, is
never trained on. The GPU product is a feature (its code is its position in the dataset order),
so one model covers every GPU given.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sloserve.placement import features
from sloserve.placement.catalogue import SoloCatalogue, dataset_gpu
from sloserve.placement.dataset import IDLE_KIND, Colocation, ColocationDataset, load_dataset
from sloserve.placement.metrics import SharingMode
from sloserve.placement.series import FloatArray
from sloserve.placement.training import trees
from sloserve.placement.tree_features import ModelRow, feature_names, rows_features

__all__ = ["STEPS", "GpuSplit", "heldout_union", "split_by_gpu", "train_trees"]

#: Points each solo series is resampled to, as for the network.
STEPS = 16


@dataclasses.dataclass(frozen=True, eq=False)
class GpuSplit:
    """One GPU's training and evaluation rows (evaluation: every row involving a held-out
    kind), with their feature tables and targets (P)."""

    gpu: str
    code: int
    dataset: ColocationDataset
    train_rows: tuple[Colocation, ...]
    eval_rows: tuple[Colocation, ...]
    train_features: FloatArray
    eval_features: FloatArray
    train_targets: FloatArray
    eval_targets: FloatArray


def model_rows(
    dataset: ColocationDataset, rows: Sequence[Colocation], *, gpu_code: int, steps: int = STEPS
) -> list[ModelRow]:
    """Each labelled row as the predictor reads it: its candidate's and co-runners' solo series
    (idle co-runners are no neighbours), its mode and its GPU's code."""
    prepared = {
        key: features.PreparedSeries.of(series, metrics=dataset.metrics, steps=steps)
        for key, series in dataset.solo.items()
    }
    return [
        ModelRow(
            candidate=prepared[(row.mode, row.kind)],
            neighbours=tuple(prepared[(row.mode, k)] for k in row.co_runners if k != IDLE_KIND),
            idle=prepared[(row.mode, IDLE_KIND)],
            mode=SharingMode.code(row.mode),
            gpu=float(gpu_code),
            thread_fraction=SharingMode.thread_fraction(row.mode),
        )
        for row in rows
    ]


def heldout_union(datasets: Sequence[ColocationDataset]) -> tuple[str, ...]:
    return tuple(sorted({kind for dataset in datasets for kind in dataset.heldout_kinds}))


def split_by_gpu(datasets: Sequence[ColocationDataset], heldout: Sequence[str]) -> list[GpuSplit]:
    """Per dataset (in order; the order gives the GPU codes), the rows split on `heldout`."""
    metrics = datasets[0].metrics
    load_column = metrics.index(features.LOAD_METRIC)
    splits = []
    for code, dataset in enumerate(datasets):
        if dataset.metrics != metrics:
            raise ValueError(
                f"datasets disagree on metrics: {list(dataset.metrics)} against {list(metrics)}"
            )
        kinds = [kind for kind in heldout if kind in dataset.kinds]
        train_rows, eval_rows = dataset.split(kinds)
        if not train_rows:
            raise ValueError(f"the {dataset.device} dataset has no training row left")

        def table(
            rows: Sequence[Colocation], dataset: ColocationDataset = dataset, code: int = code
        ) -> FloatArray:
            if not rows:
                return np.zeros((0, len(feature_names(metrics))), dtype=np.float32)
            return rows_features(model_rows(dataset, rows, gpu_code=code), load_column)

        splits.append(
            GpuSplit(
                gpu=dataset_gpu(dataset),
                code=code,
                dataset=dataset,
                train_rows=tuple(train_rows),
                eval_rows=tuple(eval_rows),
                train_features=table(train_rows),
                eval_features=table(eval_rows),
                train_targets=np.array([row.p for row in train_rows], dtype=np.float32),
                eval_targets=np.array([row.p for row in eval_rows], dtype=np.float32),
            )
        )
    gpus = [split.gpu for split in splits]
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"two datasets are of the same GPU ({gpus}); merge them first")
    return splits


def train_trees(
    *,
    dataset_paths: Sequence[pathlib.Path],
    heldout: Sequence[str] | None,
    settings: trees.TreeSettings,
    model_path: pathlib.Path,
    catalogue_path: pathlib.Path,
    report: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fits the tree predictor on every dataset's training rows, writes it to `model_path` and
    the solo catalogue of every dataset to `catalogue_path`; returns what was trained on."""
    datasets = [load_dataset(path) for path in dataset_paths]
    kinds = tuple(heldout) if heldout else heldout_union(datasets)
    if not kinds:
        raise ValueError("no held-out kinds: name them with --heldout or in the datasets")
    splits = split_by_gpu(datasets, kinds)
    x = np.concatenate([split.train_features for split in splits])
    y = np.concatenate([split.train_targets for split in splits])
    report(
        f"training on {len(y)} rows ("
        + ", ".join(f"{s.gpu} {len(s.train_rows)}" for s in splits)
        + f") that involve none of {list(kinds)}"
    )
    started = time.monotonic()
    weights = (
        trees.gpu_weights([len(split.train_rows) for split in splits])
        if settings.balance_gpus
        else None
    )
    model = trees.fit_trees(x, y, settings, weights)
    seconds = time.monotonic() - started
    metrics = datasets[0].metrics
    metadata = {
        "metrics": json.dumps(list(metrics)),
        "steps": str(STEPS),
        "gpus": json.dumps([split.gpu for split in splits]),
        "devices": json.dumps([split.dataset.device for split in splits]),
        "sharing_modes": json.dumps(sorted({m for d in datasets for m in d.modes})),
        "heldout_kinds": json.dumps(list(kinds)),
        "datasets": json.dumps([path.name for path in dataset_paths]),
        "train_rows": json.dumps({split.gpu: len(split.train_rows) for split in splits}),
        "settings": json.dumps(dataclasses.asdict(settings)),
        "target": "p = solo step time / co-located step time (1 = no slowdown); fitted as log p",
    }
    trees.export_trees(model, model_path, feature_names=feature_names(metrics), metadata=metadata)
    catalogue = SoloCatalogue.from_datasets(
        datasets, source=", ".join(path.name for path in dataset_paths)
    )
    catalogue_path.parent.mkdir(parents=True, exist_ok=True)
    catalogue_path.write_text(json.dumps(catalogue.to_document(), separators=(",", ":")) + "\n")
    return {
        "heldout_kinds": list(kinds),
        "train_rows": {split.gpu: len(split.train_rows) for split in splits},
        "train_seconds": round(seconds, 1),
        "model": model_path.name,
        "model_bytes": model_path.stat().st_size,
        "catalogue": catalogue_path.name,
    }
