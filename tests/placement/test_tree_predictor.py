"""The shipped tree predictor: trained, exported to ONNX and served through onnxruntime, it
predicts what scikit-learn's fitted trees predict (needs onnx and scikit-learn, not PyTorch)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("sklearn")

from sloserve.placement.catalogue import SoloCatalogue
from sloserve.placement.dataset import load_dataset
from sloserve.placement.predictors import load_predictor
from sloserve.placement.training import tree_pipeline, trees
from sloserve.placement.tree_predictor import TreeInterferencePredictor

QUICK = trees.TreeSettings(trees=20)


@pytest.fixture(scope="module")
def trained(
    synthetic_path: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, object], pathlib.Path, pathlib.Path]:
    out = tmp_path_factory.mktemp("trees")
    summary = tree_pipeline.train_trees(
        dataset_paths=[synthetic_path],
        heldout=None,
        settings=QUICK,
        model_path=out / "trees.onnx",
        catalogue_path=out / "solo.json",
        report=lambda _: None,
    )
    return summary, out / "trees.onnx", out / "solo.json"


def test_the_exported_graph_predicts_what_the_fitted_trees_predict(
    trained: tuple[dict[str, object], pathlib.Path, pathlib.Path], synthetic_path: pathlib.Path
) -> None:
    _, model_path, _ = trained
    dataset = load_dataset(synthetic_path)
    (split,) = tree_pipeline.split_by_gpu([dataset], dataset.heldout_kinds)
    fitted = trees.fit_trees(split.train_features, split.train_targets, QUICK)
    expected = np.clip(np.exp(fitted.predict(split.eval_features)), 0.0, trees.P_MAX)

    served = TreeInterferencePredictor(model_path).predict_features(split.eval_features)

    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-5)


def test_the_model_records_what_it_was_trained_without_and_loads_as_a_tree_model(
    trained: tuple[dict[str, object], pathlib.Path, pathlib.Path], synthetic_path: pathlib.Path
) -> None:
    summary, model_path, _ = trained
    dataset = load_dataset(synthetic_path)

    predictor = load_predictor(model_path)

    assert isinstance(predictor, TreeInterferencePredictor)
    assert json.loads(predictor.metadata["heldout_kinds"]) == list(dataset.heldout_kinds)
    assert predictor.gpus == ("synthetic",)
    assert summary["heldout_kinds"] == list(dataset.heldout_kinds)


def test_the_catalogue_written_beside_the_model_holds_every_solo_series(
    trained: tuple[dict[str, object], pathlib.Path, pathlib.Path], synthetic_path: pathlib.Path
) -> None:
    _, _, catalogue_path = trained
    dataset = load_dataset(synthetic_path)

    catalogue = SoloCatalogue.load(catalogue_path)

    assert catalogue.gpus == ("synthetic",)
    assert set(catalogue.kinds) == set(dataset.kinds)


def test_the_packaged_predictor_is_the_tree_model_of_both_gpus() -> None:
    predictor = load_predictor()
    assert isinstance(predictor, TreeInterferencePredictor)
    assert predictor.gpus == ("H100", "H200")
