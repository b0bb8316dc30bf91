"""The onnxruntime session both interference predictors are served with."""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime


def single_thread_session(path: pathlib.Path) -> onnxruntime.InferenceSession:
    """A CPU session of the model at `path` on one thread: a scheduling request is a few hundred
    rows at most, so one thread answers fastest and leaves the other cores to the scheduler and
    the server."""
    # Imported here: onnxruntime costs about 30 MB once imported, and the operator imports the
    # placement package without needing a session unless it predicts.
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
