"""The operator loads the interference predictor at its first prediction, not at start-up: an
operator with no engine on a node yet (or whose engines the sloserve scheduler places) never holds
the model's memory."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from placement_calls import pod, read_from_memory, record

from sloserve.controllers.context import ObjectState, PlacementRuntime
from sloserve.placement.scoring import NodeAssessment


class _Assessor:
    async def assess_running(self, pod: dict[str, Any], node: dict[str, Any]) -> NodeAssessment:
        return NodeAssessment(
            node=node["metadata"]["name"], mode="mps", candidate_slowdown=1.2, resident_slowdowns=()
        )


class _Loader:
    """Builds an `_Assessor`, counting the loads; fails while `failures_left` is above zero."""

    def __init__(self, failures: int = 0) -> None:
        self.loads = 0
        self.failures_left = failures

    def __call__(self) -> _Assessor:
        self.loads += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            raise OSError("the model file cannot be read")
        return _Assessor()


def _runtime(loader: _Loader) -> PlacementRuntime:
    return PlacementRuntime(known_kinds=("llm-decode",), load=loader)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _in_memory_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    read_from_memory(monkeypatch)


async def test_pending_engines_leave_the_predictor_unloaded() -> None:
    loader = _Loader()
    runtime = _runtime(loader)
    await record(runtime, ObjectState(), (pod("llama-a", None), pod("llama-b", None)))
    assert (loader.loads, runtime.loaded) == (0, False)


async def test_the_first_placed_engine_loads_the_predictor_and_later_ones_reuse_it() -> None:
    loader = _Loader()
    runtime = _runtime(loader)
    state = ObjectState()
    await record(runtime, state, (pod("llama-a", "gpu-node-0"),))
    await record(runtime, state, (pod("llama-a", "gpu-node-0"), pod("llama-b", "gpu-node-1")))
    assert (loader.loads, runtime.loaded) == (1, True)
    assert {key: entry.predicted_slowdown for key, entry in state.placements.items()} == {
        ("llama-a", "gpu-node-0"): 1.2,
        ("llama-b", "gpu-node-1"): 1.2,
    }


async def test_concurrent_first_predictions_load_the_predictor_once() -> None:
    loader = _Loader()
    runtime = _runtime(loader)
    assessors = await asyncio.gather(*(runtime.assessor() for _ in range(5)))
    assert loader.loads == 1
    assert all(assessor is assessors[0] for assessor in assessors)


async def test_a_failed_load_is_retried_with_the_placements_backoff() -> None:
    loader = _Loader(failures=1)
    runtime = _runtime(loader)
    state = ObjectState()
    await record(runtime, state, (pod("llama-a", "gpu-node-0"),))
    assert state.placement_attempts[("llama-a", "gpu-node-0")].failures == 1
    assert runtime.loaded is False
    state.placement_attempts.clear()  # as if the retry delay had passed
    await record(runtime, state, (pod("llama-a", "gpu-node-0"),))
    assert (loader.loads, runtime.loaded) == (2, True)
    assert ("llama-a", "gpu-node-0") in state.placements


def test_importing_the_operator_does_not_import_onnxruntime() -> None:
    # A fresh interpreter: this test process may have imported it for other tests.
    probe = (
        "import sys, sloserve.operator.app, sloserve.controllers.placement, "
        "sloserve.placement.catalogue; print('onnxruntime' in sys.modules)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "False"
