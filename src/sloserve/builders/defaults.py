"""What the operator decides about engine pods that a ModelService's spec does not say."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["EngineDefaults", "Manifest"]

#: A Kubernetes object as the API server reads it (JSON-ready).
Manifest = dict[str, Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class EngineDefaults:
    """Cluster-wide choices for engine workloads; the operator builds them from its settings.

    Attributes:
        sim_image: image of `sim` engines whose spec names none (the sloserve image).
        image_pull_policy: `Always`, `IfNotPresent` or `Never`; None leaves Kubernetes' default.
        drain_seconds: seconds a terminating engine may take to finish its in-flight requests
            before it gets SIGTERM, for ModelServices whose `spec.drainSeconds` is unset; 0
            sends SIGTERM at once.
        drain_delay_s: the least time a terminating engine keeps serving, even when idle, so
            that the gateway sees the EndpointSlice change (and any request already on its way
            arrives) before the engine may stop.
        shutdown_grace_s: seconds an engine gets after SIGTERM to exit before it is killed; the
            pod's `terminationGracePeriodSeconds` is the drain time plus this.
        max_surge: extra engine pods a rollout may create (a count or a percentage).
        max_unavailable: engine pods a rollout may take down before their replacements are
            ready (a count or a percentage).
        progress_deadline_s: seconds a rollout may make no progress before the Deployment
            reports it stuck.
        startup_timeout_s: seconds an engine may take to answer /health for the first time
            (loading weights) before it is restarted.
        disruption_max_unavailable: engine pods a voluntary disruption (a node drain) may evict
            at once.
        interference_aware_scheduler: scheduler of engine pods whose placement is
            interference-aware and names no scheduler; None when the cluster runs no such
            scheduler, and the operator falls back to preferred node affinity.
        listen_host: the address engines bind: `0.0.0.0`, or `$(POD_IP)` for the pod's own IP
            (where pods share the host's network).
    """

    sim_image: str
    image_pull_policy: str | None = None
    drain_seconds: int = 120
    drain_delay_s: int = 5
    shutdown_grace_s: int = 30
    max_surge: int | str = 1
    max_unavailable: int | str = 0
    progress_deadline_s: int = 600
    startup_timeout_s: int = 1800
    disruption_max_unavailable: int | str = 1
    interference_aware_scheduler: str | None = "sloserve-scheduler"
    listen_host: str = "0.0.0.0"
