"""Choose the predictor's training settings by leave-one-kind-out validation on the training
kinds only: the held-out kinds are dropped first and never looked at.

    PYTHONPATH=src python bench/placement/validate_settings.py --jobs 14 \
        --out bench/results/interference_validation.json
    python bench/placement/validate_settings.py --baselines \
        --out bench/results/interference_validation.json

For each candidate setting and each training kind K, a model is trained on the rows that involve
neither K nor a held-out kind, and scored (MAE on P) on the rows whose candidate is K. Needs only
PyTorch and numpy, so it also runs on a machine without the rest of sloserve's dependencies.
`--baselines` scores the baselines on the same folds instead (needs scikit-learn) and adds them to
an existing `--out` record.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import pathlib
import platform
import shlex
import statistics
import sys
import time
from typing import Any

CANDIDATES: dict[str, dict[str, Any]] = {
    "base": {},
    "metric-gain": {"metric_gain": 0.15},
    "demand-prior": {"demand_prior": True},
    "gain+prior": {"metric_gain": 0.15, "demand_prior": True},
}


def _fold(dataset_path: str, candidate: str, kind: str, epochs: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from sloserve.placement.dataset import load_dataset
    from sloserve.placement.examples import build_examples
    from sloserve.placement.training import fit

    dataset = load_dataset(pathlib.Path(dataset_path))
    settings = fit.TrainSettings(epochs=epochs, ensemble=1, **CANDIDATES[candidate])
    excluded = frozenset((*dataset.heldout_kinds, kind))
    train = [row for row in dataset.rows if not row.involves(excluded)]
    validate = [
        row
        for row in dataset.rows
        if row.kind == kind and not row.involves(frozenset(dataset.heldout_kinds))
    ]
    training = build_examples(dataset, train, steps=settings.steps)
    validation = build_examples(dataset, validate, steps=settings.steps)
    started = time.monotonic()
    model = fit.fit(training, settings, metrics=dataset.metrics, report=lambda _: None)
    with torch.no_grad():
        predicted = model(
            torch.tensor(validation.inputs), torch.tensor(validation.modes).reshape(-1, 1)
        ).numpy()
    return {
        "candidate": candidate,
        "kind": kind,
        "rows": len(validate),
        "mae": round(float(np.abs(predicted - validation.targets).mean()), 4),
        "seconds": round(time.monotonic() - started, 1),
    }


def _baseline_folds(dataset_path: str) -> dict[str, Any]:
    import numpy as np

    from sloserve.placement.dataset import IDLE_KIND, load_dataset
    from sloserve.placement.examples import build_examples
    from sloserve.placement.training import baselines

    dataset = load_dataset(pathlib.Path(dataset_path))
    held = frozenset(dataset.heldout_kinds)
    folds: list[dict[str, Any]] = []
    for kind in sorted(set(dataset.kinds) - {IDLE_KIND, *held}):
        train = [row for row in dataset.rows if not row.involves(held | {kind})]
        validate = [row for row in dataset.rows if row.kind == kind and not row.involves(held)]
        training = build_examples(dataset, train, steps=16)
        validation = build_examples(dataset, validate, steps=16)
        fitted = baselines.fit_baselines(training, seed=0)
        predictions = {name: model.predict(validation) for name, model in fitted.items()}
        predictions["heuristic"] = baselines.sum_of_utilizations(validation, dataset.metrics)
        for name, predicted in predictions.items():
            mae = float(np.abs(predicted - validation.targets).mean())
            folds.append({"baseline": name, "kind": kind, "mae": round(mae, 4)})
    means = {
        name: round(statistics.fmean(f["mae"] for f in folds if f["baseline"] == name), 4)
        for name in ("linear", "gbdt", "heuristic")
    }
    return {
        "baseline_mean_mae": means,
        "baseline_folds": folds,
        "baseline_command": shlex.join(["python", *sys.argv]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="data/colocation/h100_colocation.json.gz")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="")
    parser.add_argument("--baselines", action="store_true", help="score the baselines instead")
    args = parser.parse_args(argv)
    if args.baselines:
        out = pathlib.Path(args.out) if args.out else None
        record = json.loads(out.read_text()) if out is not None and out.exists() else {}
        record |= _baseline_folds(args.dataset)
        text = json.dumps(record, indent=1)
        if out is not None:
            out.write_text(text + "\n")
        print(text)
        return 0
    from sloserve.placement.dataset import IDLE_KIND, load_dataset
    from sloserve.placement.training import fit

    dataset = load_dataset(pathlib.Path(args.dataset))
    kinds = sorted(set(dataset.kinds) - {IDLE_KIND, *dataset.heldout_kinds})
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(_fold, args.dataset, candidate, kind, args.epochs)
            for candidate in CANDIDATES
            for kind in kinds
        ]
        folds = [future.result() for future in futures]
    summary = {
        candidate: round(
            statistics.fmean(f["mae"] for f in folds if f["candidate"] == candidate), 4
        )
        for candidate in CANDIDATES
    }
    record = {
        "validation": "leave-one-training-kind-out; held-out kinds never used",
        "heldout_kinds_excluded": list(dataset.heldout_kinds),
        "mean_mae_by_candidate": summary,
        "chosen": min(summary, key=lambda name: summary[name]),
        "candidates": CANDIDATES,
        "defaults": dataclasses.asdict(fit.TrainSettings()),
        "folds": folds,
        "command": shlex.join(["python", *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {args.jobs} parallel jobs",
    }
    text = json.dumps(record, indent=1)
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
