"""A directory of process groups started on the cluster's behalf (the pods' processes), so that
stopping the cluster can end them even if the local kubelet that started them was killed."""

from __future__ import annotations

import contextlib
import pathlib

from sloserve.dev import processes


class PidRegistry:
    """One file per process group: named by its leader's pid, holding the leader's start time
    (so that a later process reusing the pid is never signalled) and a description."""

    def __init__(self, directory: pathlib.Path) -> None:
        self._dir = directory

    def add(self, pid: int, description: str) -> None:
        started = processes.start_time(pid)
        if started is None:
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        (self._dir / str(pid)).write_text(f"{started} {description}\n")

    def remove(self, pid: int) -> None:
        (self._dir / str(pid)).unlink(missing_ok=True)

    def sweep(self, *, grace_s: float) -> list[str]:
        """Stops every recorded group whose leader still runs; forgets them all. Returns the
        descriptions of the groups it had to stop."""
        stopped: list[str] = []
        if not self._dir.is_dir():
            return stopped
        for entry in self._dir.iterdir():
            with contextlib.suppress(ValueError, OSError):
                recorded_start, _, description = entry.read_text().strip().partition(" ")
                pid = int(entry.name)
                if processes.start_time(pid) == int(recorded_start):
                    processes.stop_groups([pid], grace_s=grace_s)
                    stopped.append(description)
            entry.unlink(missing_ok=True)
        return stopped
