"""Observations of engines for status tests: Deployments and pods as their controllers report
them."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from sloserve.builders.observed import ChildVersion, DeploymentState, PodState
from sloserve.builders.status import Observation

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
H100 = "NVIDIA-H100-80GB-HBM3"


def deployment(
    *, desired: int = 2, ready: int = 2, updated: int | None = None, **more: Any
) -> DeploymentState:
    """A Deployment at generation 1 whose controller has caught up."""
    fields: dict[str, Any] = {
        "version": ChildVersion(resource_version="10", generation=1),
        "observed_generation": 1,
        "desired": desired,
        "replicas": desired,
        "ready_replicas": ready,
        "updated_replicas": desired if updated is None else updated,
        "available_replicas": ready,
        "stalled_message": None,
        "replica_failure_message": None,
    }
    fields.update(more)
    return DeploymentState(**fields)


def pod(name: str = "llama-abc", **more: Any) -> PodState:
    """A running, ready pod on node-0."""
    fields: dict[str, Any] = {
        "name": name,
        "node": "node-0",
        "ready": True,
        "terminating": False,
        "unschedulable_message": None,
        "waiting_reason": None,
        "waiting_message": "",
        "restarts": 0,
        "last_exit": None,
    }
    fields.update(more)
    return PodState(**fields)


def observation(**more: Any) -> Observation:
    """Generation 1 applied, its two engines ready, on a cluster with H100 nodes."""
    base = Observation(
        generation=1,
        applied_generation=1,
        failure=None,
        deployment=deployment(),
        pods=(pod("llama-a"), pod("llama-b")),
        gpu_products=frozenset({H100}),
        previous=None,
    )
    return dataclasses.replace(base, **more)
