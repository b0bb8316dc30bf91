"""Loading a predictor opens one onnxruntime session, and the packaged tree model served through
it predicts exactly what a single-threaded session opened directly with onnxruntime predicts
(bit for bit: more threads sum the trees in another order, which changes the last bits)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnxruntime
import pytest

from sloserve.placement.predictor import packaged_file
from sloserve.placement.predictors import load_predictor
from sloserve.placement.tree_predictor import TREE_MODEL


def test_loading_the_packaged_predictor_opens_one_session(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real = onnxruntime.InferenceSession

    def counting(path: str, *args: Any, **kwargs: Any) -> onnxruntime.InferenceSession:
        opened.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", counting)
    load_predictor()
    assert opened == [str(packaged_file(TREE_MODEL))]


def test_the_served_tree_model_predicts_what_a_single_threaded_session_predicts() -> None:
    path = packaged_file(TREE_MODEL)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    reference = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    width = len(json.loads(reference.get_modelmeta().custom_metadata_map["feature_names"]))
    # Features spread over the ranges the trees split on (utilizations, ratios, codes).
    table = np.random.default_rng(7).uniform(0.0, 2.0, size=(512, width)).astype(np.float32)
    (expected,) = reference.run(["p"], {"features": table})

    served = load_predictor().predict_features(table)  # type: ignore[attr-defined]

    assert served.shape == (512,)
    np.testing.assert_array_equal(served, np.asarray(expected, dtype=np.float32).reshape(-1))
    assert np.unique(served).size > 50  # the rows reach many different leaves
