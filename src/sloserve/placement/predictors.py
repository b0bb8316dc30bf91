"""What node scoring needs of a predictor, and the loader that picks the right one for a file.

Two predictors exist: the shipped tree model (`tree_predictor`, the default) and the dual-branch
network (`predictor`). Both are ONNX files; the tree model's metadata says `model:
extra_trees_log_p`.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Protocol

from sloserve.placement import onnx_session
from sloserve.placement.predictor import InterferencePredictor, packaged_file
from sloserve.placement.series import FloatArray
from sloserve.placement.tree_features import ModelRow
from sloserve.placement.tree_predictor import TREE_MODEL, TreeInterferencePredictor

__all__ = ["DEFAULT_PREDICTOR", "Predictor", "load_predictor"]

DEFAULT_PREDICTOR = TREE_MODEL
_TREE_KIND = "extra_trees_log_p"


class Predictor(Protocol):
    metrics: tuple[str, ...]
    steps: int
    gpus: tuple[str, ...]
    metadata: dict[str, str]

    def predict_rows(self, rows: Sequence[ModelRow]) -> FloatArray: ...


def load_predictor(path: pathlib.Path | None = None) -> Predictor:
    """The predictor in `path` (a tree model or a network, by its metadata), or the packaged
    tree model."""
    chosen = path if path is not None else packaged_file(DEFAULT_PREDICTOR)
    # One session, handed to the predictor: a second one of the tree model would cost its
    # ~160 MB and two seconds again, only to read the metadata.
    session = onnx_session.single_thread_session(chosen)
    kind = session.get_modelmeta().custom_metadata_map.get("model")
    if kind == _TREE_KIND:
        return TreeInterferencePredictor(chosen, session=session)
    return InterferencePredictor(chosen, session=session)
