"""The shipped interference predictor: extra trees on log P over summary features, one model
for every GPU product it was trained on (the product is a feature), served with onnxruntime.

The ONNX file (`models/interference_trees.onnx`, written by `sloserve placement train-trees`)
holds the trees, exp and a clip, so it outputs P. Its metadata names the metrics and their
order, the time steps, the GPU products in code order, the feature names and the held-out
kinds. Feature rows are built here with `tree_features`, the code training used.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sloserve.placement import features, onnx_session
from sloserve.placement.series import FloatArray
from sloserve.placement.tree_features import ModelRow, feature_names, rows_features

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["TREE_MODEL", "TreeInterferencePredictor"]

TREE_MODEL = "interference_trees.onnx"


class TreeInterferencePredictor:
    """Predicts P (solo / co-located performance; 1 = no slowdown) of candidates beside
    neighbours on a GPU product. Safe to share between threads."""

    def __init__(
        self, path: pathlib.Path, *, session: onnxruntime.InferenceSession | None = None
    ) -> None:
        """The model at `path`, served by `session` when one of it is already open."""
        self._session = session if session is not None else onnx_session.single_thread_session(path)
        metadata = self._session.get_modelmeta().custom_metadata_map
        try:
            self.metrics: tuple[str, ...] = tuple(json.loads(metadata["metrics"]))
            self.steps = int(metadata["steps"])
            self.gpus: tuple[str, ...] = tuple(json.loads(metadata["gpus"]))
            names = json.loads(metadata["feature_names"])
        except KeyError as missing:
            raise ValueError(
                f"{path} lacks metadata {missing}; it was not written by "
                "`sloserve placement train-trees`"
            ) from None
        if names != feature_names(self.metrics):
            raise ValueError(
                f"{path} reads features {names[:3]}...; this sloserve builds "
                f"{feature_names(self.metrics)[:3]}...: retrain it with this version"
            )
        self.metadata: dict[str, str] = dict(metadata)
        self.path = path
        self._load_column = self.metrics.index(features.LOAD_METRIC)

    def gpu_code(self, gpu: str | None) -> float:
        """The model's code of `gpu`; an unknown or missing product is the first GPU's."""
        return float(self.gpus.index(gpu)) if gpu in self.gpus else 0.0

    def predict_features(self, table: FloatArray) -> FloatArray:
        """P of each row of an already-built feature table `(batch, features)`."""
        (output,) = self._session.run(
            ["p"], {"features": np.ascontiguousarray(table, dtype=np.float32)}
        )
        return np.asarray(output, dtype=np.float32).reshape(-1)

    def predict_rows(self, rows: Sequence[ModelRow]) -> FloatArray:
        """P of each row, in one onnxruntime call."""
        if not rows:
            return np.zeros(0, dtype=np.float32)
        return self.predict_features(rows_features(rows, self._load_column))
