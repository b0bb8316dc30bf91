"""A pod's status, computed from its containers as a real kubelet would report it."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

from sloserve.dev.kubelet import api, timestamps

# Conditions this kubelet owns; any other (PodScheduled, readiness gates, DisruptionTarget)
# is carried over unchanged.
_OWN_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


class ConditionClock:
    """Remembers when each condition last changed its status (lastTransitionTime)."""

    def __init__(self) -> None:
        self._since: dict[str, tuple[str, datetime.datetime]] = {}

    def stamp(self, kind: str, status: str, moment: datetime.datetime) -> str:
        previous = self._since.get(kind)
        if previous is None or previous[0] != status:
            self._since[kind] = (status, moment)
        return timestamps.rfc3339(self._since[kind][1])


@dataclasses.dataclass(frozen=True)
class PodView:
    """What the pod's status is computed from."""

    pod: api.JsonObject
    pod_ip: str
    host_ip: str
    start_time: datetime.datetime
    init_statuses: Sequence[api.JsonObject]
    container_statuses: Sequence[api.JsonObject]
    initialized: bool
    # Once the pod is being deleted nothing restarts, so the phase becomes terminal.
    terminating: bool = False


def phase(view: PodView) -> str:
    """Kubernetes' pod phase from the container states."""
    if not view.initialized:
        failed_init = any(
            status["state"].get("terminated", {}).get("exitCode", 0) != 0
            for status in view.init_statuses
        )
        if failed_init and _restart_policy(view) == "Never":
            return "Failed"
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for status in view.container_statuses:
        state = status["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif status.get("lastState", {}).get("terminated") is not None:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    policy = "Never" if view.terminating else _restart_policy(view)
    if policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if policy == "Never" else "Running"


def _restart_policy(view: PodView) -> str:
    return str(view.pod.get("spec", {}).get("restartPolicy", "Always"))


def pod_status(
    view: PodView, *, clock: ConditionClock, moment: datetime.datetime
) -> api.JsonObject:
    """The status fields this kubelet reports (for a merge patch of `status`)."""
    unready = [status["name"] for status in view.container_statuses if not status["ready"]]
    unfinished_init = [
        status["name"]
        for status in view.init_statuses
        if status["state"].get("terminated", {}).get("exitCode") != 0
    ]
    gates = [gate["conditionType"] for gate in view.pod["spec"].get("readinessGates") or []]
    existing = view.pod.get("status", {}).get("conditions") or []
    gate_status = {condition["type"]: condition["status"] for condition in existing}
    unmet_gates = [gate for gate in gates if gate_status.get(gate) != "True"]

    def condition(kind: str, ok: bool, reason: str = "", message: str = "") -> api.JsonObject:
        status = "True" if ok else "False"
        entry: api.JsonObject = {
            "type": kind,
            "status": status,
            "lastTransitionTime": clock.stamp(kind, status, moment),
        }
        if not ok:
            entry["reason"] = reason
            entry["message"] = message
        return entry

    conditions = [c for c in existing if c["type"] not in _OWN_CONDITIONS]
    conditions += [
        condition("PodReadyToStartContainers", True),
        condition(
            "Initialized",
            view.initialized,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(unfinished_init)}]",
        ),
        condition(
            "ContainersReady",
            not unready,
            "ContainersNotReady",
            f"containers with unready status: [{' '.join(unready)}]",
        ),
        condition(
            "Ready",
            not unready and not unmet_gates,
            "ContainersNotReady" if unready else "ReadinessGatesNotReady",
            f"containers with unready status: [{' '.join(unready)}]"
            if unready
            else f'the status of pod readiness gates is not "True": {unmet_gates}',
        ),
    ]
    status: api.JsonObject = {
        "phase": phase(view),
        "conditions": conditions,
        "hostIP": view.host_ip,
        "hostIPs": [{"ip": view.host_ip}],
        "podIP": view.pod_ip,
        "podIPs": [{"ip": view.pod_ip}],
        "startTime": timestamps.rfc3339(view.start_time),
        "containerStatuses": list(view.container_statuses),
    }
    if view.init_statuses:
        status["initContainerStatuses"] = list(view.init_statuses)
    return status
