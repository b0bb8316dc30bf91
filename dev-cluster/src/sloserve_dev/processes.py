"""Starting and stopping the local cluster's processes.

Every process is started as the leader of its own process group, so that stopping it reaches
whatever it started too, and so that it survives the command that started it (`sloserve dev up`
returns while the cluster keeps running).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

_PR_SET_PDEATHSIG = 1
_POLL_INTERVAL_S = 0.05


def die_with_parent() -> None:
    """For `preexec_fn`: has the kernel SIGKILL the child when its parent dies."""
    # Runs in the child between fork and exec: a test session killed with SIGKILL cannot run its
    # teardown, and this keeps it from leaving components behind.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    *,
    argv: Sequence[str],
    log_path: pathlib.Path,
    env: Mapping[str, str] | None = None,
    cwd: pathlib.Path | None = None,
    tie_to_parent: bool = False,
) -> subprocess.Popen[bytes]:
    """Starts `argv` in a new session (its pid is its process group id), stdout and stderr
    appended to `log_path`. With `tie_to_parent`, the kernel kills it when this process dies."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=die_with_parent if tie_to_parent else None,
        )


def _stat_fields(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time in clock ticks after boot) of a process, or None when
    it is gone."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses; the fields after the last ")" may not.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[2]), int(fields[19])


def start_time(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot), to tell it from a later process
    that reuses its pid; None when there is no such process."""
    fields = _stat_fields(pid)
    return None if fields is None else fields[2]


def _reap(pid: int) -> None:
    """Collects the exit status of our own child so that it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`."""
    members = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and fields[1] == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def is_running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    _reap(pid)
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def stop_groups(
    pgids: Iterable[int],
    *,
    grace_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> list[int]:
    """Sends SIGTERM to each process group, waits up to `grace_s` for all of them to exit, then
    sends SIGKILL to what is left and waits for that too. Returns the pids that survived even
    SIGKILL (normally none). Safe to call for groups that are already gone."""
    pending = list(dict.fromkeys(pgids))
    for pgid in pending:
        _signal_group(pgid, signal.SIGTERM)
    if _wait_groups(pending, deadline=clock() + grace_s, clock=clock):
        return []
    for pgid in pending:
        _signal_group(pgid, signal.SIGKILL)
    _wait_groups(pending, deadline=clock() + 5.0, clock=clock)
    return [pid for pgid in pending for pid in group_members(pgid)]


def _wait_groups(pgids: list[int], *, deadline: float, clock: Callable[[], float]) -> bool:
    while True:
        for pgid in pgids:
            _reap(pgid)
        if not any(group_members(pgid) for pgid in pgids):
            return True
        if clock() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL_S)


def log_tail(path: pathlib.Path, *, lines: int = 40) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    try:
        with path.open("r", errors="replace") as log:
            return "".join(collections.deque(log, maxlen=lines))
    except FileNotFoundError:
        return f"(no log at {path})\n"
