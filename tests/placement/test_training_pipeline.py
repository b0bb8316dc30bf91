"""Training end to end on the synthetic dataset (needs the `train` extra)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("sklearn")

from sloserve.placement.catalogue import SoloCatalogue  # noqa: E402
from sloserve.placement.dataset import ColocationDataset  # noqa: E402
from sloserve.placement.examples import build_examples  # noqa: E402
from sloserve.placement.predictor import InterferencePredictor  # noqa: E402
from sloserve.placement.training import fit, pipeline  # noqa: E402

QUICK = fit.TrainSettings(epochs=12, ensemble=1, steps=8, width=16, heads=2, layers=1)


@pytest.fixture(scope="module")
def trained(
    synthetic_path: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, object], pipeline.Outputs]:
    out = tmp_path_factory.mktemp("model")
    outputs = pipeline.Outputs(model=out / "model.onnx", catalogue=out / "solo.json")
    record = pipeline.train_and_evaluate(
        dataset_path=synthetic_path,
        heldout=None,
        settings=QUICK,
        outputs=outputs,
        report=lambda _: None,
    )
    return record, outputs


def test_the_record_reports_every_model_on_the_heldout_kinds(
    trained: tuple[dict[str, object], pipeline.Outputs],
) -> None:
    record, _ = trained
    assert record["heldout_kinds"] == ["decode_medium"]
    mae = record["mae"]
    assert isinstance(mae, dict)
    assert set(mae) == {"dual_branch", "linear", "gbdt", "heuristic"}
    assert all(0 <= value < 1 for value in mae.values())
    json.dumps(record)


def test_the_exported_model_carries_its_inputs_and_heldout_kinds(
    trained: tuple[dict[str, object], pipeline.Outputs], synthetic: ColocationDataset
) -> None:
    _, outputs = trained
    predictor = InterferencePredictor.load(outputs.model)
    assert predictor.metrics == synthetic.metrics
    assert predictor.steps == QUICK.steps
    assert json.loads(predictor.metadata["heldout_kinds"]) == ["decode_medium"]
    catalogue = SoloCatalogue.load(outputs.catalogue)
    assert "decode_medium" in catalogue.kinds


def test_onnx_and_pytorch_agree(synthetic: ColocationDataset, tmp_path: pathlib.Path) -> None:
    examples = build_examples(synthetic, synthetic.rows[:40], steps=QUICK.steps)
    model = fit.fit(examples, QUICK, metrics=synthetic.metrics, report=lambda _: None)
    path = tmp_path / "m.onnx"
    fit.export_onnx(
        model,
        examples,
        path,
        metadata={"metrics": json.dumps(list(synthetic.metrics)), "steps": "8", "slots": "3"},
    )
    with torch.no_grad():
        expected = model(
            torch.tensor(examples.inputs), torch.tensor(examples.modes).reshape(-1, 1)
        ).numpy()
    served = InterferencePredictor.load(path).predict(examples.inputs, examples.modes)
    np.testing.assert_allclose(served, expected, atol=1e-4)


def test_evaluating_on_a_kind_the_model_trained_on_is_refused(
    trained: tuple[dict[str, object], pipeline.Outputs], synthetic_path: pathlib.Path
) -> None:
    _, outputs = trained
    with pytest.raises(ValueError, match="trained with"):
        pipeline.evaluate(
            dataset_path=synthetic_path,
            heldout=["finetune"],
            predictor=InterferencePredictor.load(outputs.model),
        )
