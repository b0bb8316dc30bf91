"""`sloserve placement`: train and evaluate the interference predictor, serve the kube-scheduler
extender, and write the second scheduler's configuration."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shlex
import sys
from typing import Any

import click

_PACKAGE_MODELS = pathlib.Path(__file__).resolve().parent.parent / "placement" / "models"


def _machine() -> str:
    cores = len(os.sched_getaffinity(0))
    return (
        f"{platform.machine()} {platform.processor() or 'CPU'}, {cores} cores, {platform.system()}"
    )


def _write_record(record: dict[str, Any], results: pathlib.Path | None) -> None:
    text = json.dumps(record, indent=1) + "\n"
    if results is not None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(text)
    click.echo(text)


def _training_modules() -> Any:
    try:
        from sloserve.placement.training import fit, pipeline
    except ModuleNotFoundError as missing:
        raise click.ClickException(
            f"training needs the `train` extra ({missing.name} is not installed): "
            "pip install 'sloserve[train]'"
        ) from None
    return fit, pipeline


@click.group()
def placement() -> None:
    """Interference-aware placement of engine pods."""


_DATASET = click.option(
    "--dataset",
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    default=pathlib.Path("data/colocation/h100_colocation.json.gz"),
    show_default=True,
    help="co-location dataset (docs/colocation-dataset.md)",
)
_HELDOUT = click.option(
    "--heldout",
    multiple=True,
    help="workload kind kept out of training and evaluated on (repeat; default: the dataset's)",
)
_RESULTS = click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="also write the evaluation record to this JSON file",
)


@placement.command()
@_DATASET
@_HELDOUT
@_RESULTS
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=_PACKAGE_MODELS,
    show_default="the package's models/",
    help="where interference.onnx and solo_series.json are written",
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="epochs per member")
@click.option("--ensemble", type=click.IntRange(min=1), default=None, help="ensemble members")
@click.option("--seed", type=int, default=0, show_default=True)
def train(
    dataset: pathlib.Path,
    heldout: tuple[str, ...],
    results: pathlib.Path | None,
    out_dir: pathlib.Path,
    epochs: int | None,
    ensemble: int | None,
    seed: int,
) -> None:
    """Train the dual-branch network without the held-out kinds, export it to ONNX, and
    evaluate it and the baselines on those kinds. It also writes solo_series.json of its one
    dataset, over the packaged one of both GPUs: run `train-trees` afterwards to restore it."""
    fit, pipeline = _training_modules()
    overrides = {"seed": seed}
    if epochs is not None:
        overrides["epochs"] = epochs
    if ensemble is not None:
        overrides["ensemble"] = ensemble
    from sloserve.placement.catalogue import CATALOGUE_FILE
    from sloserve.placement.predictor import DEFAULT_MODEL

    record = pipeline.train_and_evaluate(
        dataset_path=dataset,
        heldout=heldout or None,
        settings=fit.TrainSettings(**overrides),
        outputs=pipeline.Outputs(model=out_dir / DEFAULT_MODEL, catalogue=out_dir / CATALOGUE_FILE),
        report=lambda line: click.echo(line, err=True),
    )
    _write_record(_provenance(record), results)


@placement.command("train-trees")
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    default=(
        pathlib.Path("data/colocation/h100_colocation.json.gz"),
        pathlib.Path("data/colocation/h200_colocation.json.gz"),
    ),
    show_default=True,
    help="co-location dataset, one per GPU product (repeat; the order gives the GPU codes)",
)
@_HELDOUT
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=_PACKAGE_MODELS,
    show_default="the package's models/",
    help="where interference_trees.onnx and solo_series.json are written",
)
@click.option("--seed", type=int, default=0, show_default=True)
def train_trees(
    datasets: tuple[pathlib.Path, ...],
    heldout: tuple[str, ...],
    out_dir: pathlib.Path,
    seed: int,
) -> None:
    """Train the shipped predictor (extra trees on log P, every GPU's rows together) without the
    held-out kinds, and write it and the solo catalogue of every GPU.
    `python bench/placement/interference_benchmark.py` evaluates it against the baselines."""
    try:
        from sloserve.placement.training import tree_pipeline, trees
    except ModuleNotFoundError as missing:
        raise click.ClickException(
            f"training needs the `train` extra ({missing.name} is not installed): "
            "pip install 'sloserve[train]'"
        ) from None
    from sloserve.placement.catalogue import CATALOGUE_FILE
    from sloserve.placement.tree_predictor import TREE_MODEL

    summary = tree_pipeline.train_trees(
        dataset_paths=datasets,
        heldout=heldout or None,
        settings=trees.TreeSettings(seed=seed),
        model_path=out_dir / TREE_MODEL,
        catalogue_path=out_dir / CATALOGUE_FILE,
        report=lambda line: click.echo(line, err=True),
    )
    click.echo(json.dumps(summary, indent=1))


@placement.command()
@_DATASET
@_HELDOUT
@_RESULTS
@click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="ONNX model to evaluate (default: the packaged one)",
)
def evaluate(
    dataset: pathlib.Path,
    heldout: tuple[str, ...],
    results: pathlib.Path | None,
    model: pathlib.Path | None,
) -> None:
    """Evaluate a trained model and the baselines on the held-out kinds."""
    _, pipeline = _training_modules()
    from sloserve.placement.predictor import InterferencePredictor

    record = pipeline.evaluate(
        dataset_path=dataset,
        heldout=heldout or None,
        predictor=InterferencePredictor.load(model),
    )
    _write_record(_provenance(record), results)


def _provenance(record: dict[str, Any]) -> dict[str, Any]:
    return record | {
        "command": shlex.join(["sloserve", *sys.argv[1:]]),
        "machine": _machine(),
    }


@placement.command()
@click.option("--host", default=None, help="address to listen on [default: 127.0.0.1]")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="[default: 8788]")
@click.option(
    "--model", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path), default=None
)
@click.option(
    "--catalogue",
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="solo series per workload kind (default: the packaged one)",
)
@click.option("--prometheus-url", default=None, help="Prometheus with DCGM exporter series")
@click.option(
    "--default-max-slowdown",
    type=click.FloatRange(min=1.0),
    default=None,
    help="limit for pods without the max-predicted-slowdown annotation",
)
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="for listing pods (default: in-cluster, else ~/.kube/config)",
)
def extender(**options: Any) -> None:
    """Serve the kube-scheduler extender (POST /filter, POST /prioritize)."""
    import uvicorn

    from sloserve.placement import extender as extender_app
    from sloserve.placement import runtime
    from sloserve.placement.settings import ExtenderSettings

    given = {name: value for name, value in options.items() if value is not None}
    settings = ExtenderSettings(**given)
    app = extender_app.create_app(settings, open_assessor=runtime.open_assessor)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


@placement.command("scheduler-config")
@click.option("--extender-url", required=True, help="e.g. http://127.0.0.1:8788")
@click.option("--scheduler-name", default="sloserve-scheduler", show_default=True)
@click.option("--kubeconfig", default=None, help="the scheduler's kubeconfig (omit in a pod)")
@click.option("--leader-elect/--no-leader-elect", default=True, show_default=True)
@click.option(
    "--lease-namespace", default="kube-system", show_default=True, help="namespace of its Lease"
)
@click.option("--weight", type=click.IntRange(min=1), default=5, show_default=True)
def scheduler_config(
    extender_url: str,
    scheduler_name: str,
    kubeconfig: str | None,
    leader_elect: bool,
    lease_namespace: str,
    weight: int,
) -> None:
    """Print the KubeSchedulerConfiguration of the sloserve scheduler."""
    from sloserve.placement import scheduler_config as config

    try:
        configuration = config.kube_scheduler_configuration(
            extender_url=extender_url,
            scheduler_name=scheduler_name,
            kubeconfig=kubeconfig,
            leader_elect=leader_elect,
            lease_namespace=lease_namespace,
            weight=weight,
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    click.echo(config.render(configuration), nl=False)
