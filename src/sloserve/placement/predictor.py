"""The dual-branch interference network, served with onnxruntime.

The ONNX file carries what it was trained on as metadata: the metric names and their order, the
number of time steps, and the held-out kinds. The packaged network is `models/interference.onnx`
(trained on the H100 dataset); `sloserve placement train` writes a new one. The predictor node
scoring uses by default is the tree model (`tree_predictor`, `predictors.load_predictor`).
"""

from __future__ import annotations

import importlib.resources
import json
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sloserve.placement import onnx_session
from sloserve.placement.series import FloatArray

if TYPE_CHECKING:
    import onnxruntime

    from sloserve.placement.tree_features import ModelRow

__all__ = ["DEFAULT_MODEL", "InterferencePredictor", "packaged_file"]

DEFAULT_MODEL = "interference.onnx"


def packaged_file(name: str) -> pathlib.Path:
    """Path of a file shipped in `sloserve/placement/models/`; raises FileNotFoundError saying how
    to produce it when it is missing."""
    resource = importlib.resources.files("sloserve.placement").joinpath("models", name)
    path = pathlib.Path(str(resource))
    if not path.is_file():
        raise FileNotFoundError(
            f"{name} is not in the sloserve package; train it with "
            "`sloserve placement train-trees` (the tree model and the catalogue) or "
            "`sloserve placement train` (the dual-branch network)"
        )
    return path


class InterferencePredictor:
    """Predicts P (solo / co-located performance; 1 = no slowdown) of candidates beside
    neighbours. One instance serves many calls; it is safe to share between threads."""

    def __init__(
        self, path: pathlib.Path, *, session: onnxruntime.InferenceSession | None = None
    ) -> None:
        """The model at `path`, served by `session` when one of it is already open."""
        self._session = session if session is not None else onnx_session.single_thread_session(path)
        metadata = self._session.get_modelmeta().custom_metadata_map
        try:
            self.metrics: tuple[str, ...] = tuple(json.loads(metadata["metrics"]))
            self.steps = int(metadata["steps"])
            self.slots = int(metadata["slots"])
        except KeyError as missing:
            raise ValueError(
                f"{path} lacks metadata {missing}; it was not written by `sloserve placement train`"
            ) from None
        self.metadata: dict[str, str] = dict(metadata)
        self.path = path
        #: The network was trained on one GPU and has no GPU input.
        self.gpus: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: pathlib.Path | None = None) -> InterferencePredictor:
        """The model at `path`, or the packaged one."""
        return cls(path if path is not None else packaged_file(DEFAULT_MODEL))

    def predict(self, inputs: FloatArray, modes: FloatArray) -> FloatArray:
        """P for each row of `inputs` (`(batch, slots, steps, metrics)` in this model's metric
        order) under `modes` (`(batch,)`, 0 time-slicing, 1 MPS)."""
        expected = (self.slots, self.steps, len(self.metrics))
        if inputs.ndim != 4 or inputs.shape[1:] != expected:
            raise ValueError(f"inputs have shape {inputs.shape}; expected (batch, *{expected})")
        outputs = self._session.run(
            ["p"],
            {
                "series": np.ascontiguousarray(inputs, dtype=np.float32),
                "mode": np.ascontiguousarray(modes, dtype=np.float32).reshape(-1, 1),
            },
        )
        return np.asarray(outputs[0], dtype=np.float32)

    def predict_rows(self, rows: Sequence[ModelRow]) -> FloatArray:
        """P of each row (the GPU of a row is not an input of this model)."""
        from sloserve.placement.features import stack_inputs

        inputs = np.stack([stack_inputs(row.candidate, row.neighbours, row.idle) for row in rows])
        modes = np.array([row.mode for row in rows], dtype=np.float32)
        return self.predict(inputs, modes).reshape(-1)
