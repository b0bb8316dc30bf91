"""A failed prediction of an engine pod's slowdown is tried again, later each time, until it
succeeds; a successful one is made once."""

from __future__ import annotations

from typing import Any

import placement_calls
import pytest

from sloserve.controllers.context import ObjectState, PlacementRuntime
from sloserve.placement.scoring import NodeAssessment


class _Assessor:
    """Predicts 1.1 for every pod, or fails while `failures_left` is above zero."""

    def __init__(self, failures: int) -> None:
        self.failures_left = failures
        self.calls = 0

    async def assess_running(self, pod: dict[str, Any], node: dict[str, Any]) -> NodeAssessment:
        self.calls += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            raise RuntimeError("the predictor is not loaded yet")
        return NodeAssessment(
            node=node["metadata"]["name"], mode="mps", candidate_slowdown=1.1, resident_slowdowns=()
        )


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Pod and node reads answer from memory; the names read are recorded."""
    return placement_calls.read_from_memory(monkeypatch)


async def _record(assessor: _Assessor, state: ObjectState, *, now: float) -> None:
    runtime = PlacementRuntime(known_kinds=(), load=lambda: assessor)  # type: ignore[arg-type,return-value]
    await placement_calls.record(
        runtime, state, (placement_calls.pod("llama-a", "gpu-node-0"),), now=now
    )


async def test_a_failed_prediction_is_retried_after_a_growing_delay(reads: list[str]) -> None:
    assessor = _Assessor(failures=2)
    state = ObjectState()
    await _record(assessor, state, now=100.0)
    attempt = state.placement_attempts[("llama-a", "gpu-node-0")]
    assert (attempt.failures, attempt.retry_at) == (1, 101.0)
    await _record(assessor, state, now=100.5)  # too early: nothing is tried
    assert assessor.calls == 1
    await _record(assessor, state, now=101.0)
    attempt = state.placement_attempts[("llama-a", "gpu-node-0")]
    assert (attempt.failures, attempt.retry_at) == (2, 103.0)
    await _record(assessor, state, now=103.0)
    assert assessor.calls == 3
    assert state.placement_attempts == {}
    assert state.placements[("llama-a", "gpu-node-0")].predicted_slowdown == 1.1


async def test_a_successful_prediction_is_made_once(reads: list[str]) -> None:
    assessor = _Assessor(failures=0)
    state = ObjectState()
    for now in (1.0, 20.0, 40.0):
        await _record(assessor, state, now=now)
    assert assessor.calls == 1


async def test_the_delay_stops_growing_at_the_policys_maximum(reads: list[str]) -> None:
    assessor = _Assessor(failures=100)
    state = ObjectState()
    now = 0.0
    delays = []
    for _ in range(6):
        await _record(assessor, state, now=now)
        retry_at = state.placement_attempts[("llama-a", "gpu-node-0")].retry_at
        delays.append(retry_at - now)
        now = retry_at
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert assessor.calls == 6
