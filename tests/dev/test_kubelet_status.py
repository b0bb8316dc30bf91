"""The pod phase and conditions the local kubelet reports."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from sloserve.dev.kubelet import container, status

MOMENT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _container(state: dict[str, Any], *, ready: bool = False, last: dict[str, Any] | None = None):
    return {"name": "c", "ready": ready, "state": state, "lastState": last or {}}


def _view(*statuses: dict[str, Any], policy: str = "Always", terminating: bool = False):
    return status.PodView(
        pod={"spec": {"restartPolicy": policy, "containers": []}, "status": {}},
        pod_ip="198.19.0.2",
        host_ip="198.19.0.1",
        start_time=MOMENT,
        init_statuses=[],
        container_statuses=list(statuses),
        initialized=True,
        terminating=terminating,
    )


RUNNING = {"running": {"startedAt": "x"}}
WAITING = {"waiting": {"reason": "ContainerCreating"}}
BACKING_OFF = {"waiting": {"reason": "CrashLoopBackOff"}}


def _exited(code: int) -> dict[str, Any]:
    return {"terminated": {"exitCode": code}}


@pytest.mark.parametrize(
    ("statuses", "policy", "expected"),
    [
        ([_container(WAITING)], "Always", "Pending"),
        ([_container(RUNNING)], "Always", "Running"),
        ([_container(BACKING_OFF, last=_exited(1))], "Always", "Running"),
        ([_container(_exited(0))], "Never", "Succeeded"),
        ([_container(_exited(2))], "Never", "Failed"),
        ([_container(_exited(2))], "OnFailure", "Running"),
        ([_container(_exited(0))], "OnFailure", "Succeeded"),
        ([_container(RUNNING), _container(WAITING)], "Always", "Pending"),
    ],
)
def test_phase_follows_the_containers_and_restart_policy(
    statuses: list[dict[str, Any]], policy: str, expected: str
) -> None:
    assert status.phase(_view(*statuses, policy=policy)) == expected


def test_a_pod_stopped_for_deletion_ends_in_a_terminal_phase() -> None:
    assert status.phase(_view(_container(_exited(143)), terminating=True)) == "Failed"


def test_ready_needs_every_container_ready_and_keeps_its_transition_time() -> None:
    clock = status.ConditionClock()
    later = MOMENT + datetime.timedelta(seconds=30)

    unready = status.pod_status(_view(_container(RUNNING)), clock=clock, moment=MOMENT)
    ready = status.pod_status(_view(_container(RUNNING, ready=True)), clock=clock, moment=later)
    still = status.pod_status(
        _view(_container(RUNNING, ready=True)), clock=clock, moment=later + later.resolution
    )

    def condition(reported: dict[str, Any], kind: str) -> dict[str, Any]:
        return next(c for c in reported["conditions"] if c["type"] == kind)

    assert condition(unready, "Ready")["status"] == "False"
    assert condition(unready, "Ready")["reason"] == "ContainersNotReady"
    assert condition(ready, "Ready")["status"] == "True"
    assert condition(ready, "Ready")["lastTransitionTime"] == "2026-01-01T00:00:30Z"
    assert condition(still, "Ready")["lastTransitionTime"] == "2026-01-01T00:00:30Z"


def test_conditions_of_others_are_kept() -> None:
    view = _view(_container(RUNNING, ready=True))
    scheduled = {"type": "PodScheduled", "status": "True"}
    view.pod["status"]["conditions"] = [scheduled]

    reported = status.pod_status(view, clock=status.ConditionClock(), moment=MOMENT)

    assert scheduled in reported["conditions"]


@pytest.mark.parametrize(
    ("restarts", "delay"), [(1, 0.0), (2, 10.0), (3, 20.0), (4, 40.0), (7, 300.0), (20, 300.0)]
)
def test_restart_back_off_doubles_up_to_its_ceiling(restarts: int, delay: float) -> None:
    assert container.Backoff(initial_s=10.0, max_s=300.0).delay(restarts) == delay
