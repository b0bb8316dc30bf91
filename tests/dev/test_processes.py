"""Stopping process groups: SIGTERM first, SIGKILL for whatever ignores it."""

from __future__ import annotations

import pathlib
import time

from sloserve_dev import processes

_IGNORES_SIGTERM = "trap '' TERM; sleep 60 & wait; sleep 60"


def test_stop_terminates_the_whole_process_group(tmp_path: pathlib.Path) -> None:
    leader = processes.spawn(
        argv=["sh", "-c", "sleep 60 & sleep 60 & wait"], log_path=tmp_path / "log"
    )
    _wait_for_members(leader.pid, count=3)

    survivors = processes.stop_groups([leader.pid], grace_s=5)

    assert survivors == []
    assert processes.group_members(leader.pid) == []
    assert leader.poll() is not None


def test_stop_kills_a_group_that_ignores_sigterm_after_the_grace_period(
    tmp_path: pathlib.Path,
) -> None:
    leader = processes.spawn(argv=["sh", "-c", _IGNORES_SIGTERM], log_path=tmp_path / "log")
    _wait_for_members(leader.pid, count=2)

    survivors = processes.stop_groups([leader.pid], grace_s=0.2)

    assert survivors == []
    assert processes.group_members(leader.pid) == []


def test_stopping_a_group_that_is_gone_is_harmless(tmp_path: pathlib.Path) -> None:
    leader = processes.spawn(argv=["true"], log_path=tmp_path / "log")
    leader.wait(timeout=5)

    assert processes.stop_groups([leader.pid], grace_s=0.1) == []


def _wait_for_members(pgid: int, *, count: int) -> None:
    # The shell forks its children asynchronously; signal only once they exist.
    deadline = time.monotonic() + 5
    while len(processes.group_members(pgid)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(processes.group_members(pgid)) >= count
