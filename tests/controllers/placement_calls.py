"""The operator's placement step called in process: engine pods as observed, reads from memory,
one `record_placements` call for a ModelService with interference-aware placement."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import kopf
import pytest
from kubernetes import client

from sloserve.api.spec import ModelServiceSpec
from sloserve.builders.defaults import EngineDefaults
from sloserve.builders.observed import PodState
from sloserve.controllers import children, placement, retries
from sloserve.controllers.context import ObjectState, OperatorContext, PlacementRuntime

POLICY = retries.RetryPolicy(initial_s=1.0, max_s=8.0, jitter=0.0)

_SPEC = ModelServiceSpec.model_validate(
    {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "engine": {"kind": "sim", "gpus": 1},
        "sloClasses": [{"name": "standard", "ttft": "3s", "tpot": "30ms"}],
        "defaultClass": "standard",
        "placement": {"interferenceAware": True},
    }
)


def pod(name: str, node: str | None) -> PodState:
    """An engine pod of the ModelService, ready once it has a node."""
    return PodState(
        name=name,
        node=node,
        ready=node is not None,
        terminating=False,
        unschedulable_message=None,
        waiting_reason=None,
        waiting_message="",
        restarts=0,
        last_exit=None,
    )


def read_from_memory(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Pod and node reads answer from memory and Events go nowhere; returns the names read."""
    seen: list[str] = []

    async def read(context: OperatorContext, function: Any, name: str, *more: Any) -> Any:
        seen.append(name)
        return {"metadata": {"name": name, "namespace": "team-a"}}

    monkeypatch.setattr(placement, "_call", read)
    monkeypatch.setattr(kopf, "event", lambda *args, **kwargs: None)
    return seen


async def record(
    runtime: PlacementRuntime,
    state: ObjectState,
    pods: tuple[PodState, ...],
    *,
    now: float = 0.0,
) -> None:
    """One placement step of ModelService team-a/llama with `pods` observed."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        context = OperatorContext(
            api=client.ApiClient(),
            executor=executor,
            defaults=EngineDefaults(sim_image="x"),
            field_manager="test",
            retries=POLICY,
            request_timeout_s=1.0,
            placement=runtime,
        )
        await placement.record_placements(
            context=context,
            owner=kopf.Body({"metadata": {"name": "llama", "namespace": "team-a"}}),
            spec=_SPEC,
            state=state,
            observed=children.Observed(
                deployment=None, versions={}, pods=pods, gpu_products=frozenset()
            ),
            previous=None,
            now=now,
        )
