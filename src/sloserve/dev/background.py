"""The developer's cluster that `sloserve dev up` leaves running in the background, and that
`sloserve dev status` and `sloserve dev down` find again through its state directory."""

from __future__ import annotations

import dataclasses
import pathlib

from sloserve.dev import cluster, kubelet_process, layout, processes, readiness, state
from sloserve.dev.kubelet import config


@dataclasses.dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int
    running: bool
    log: pathlib.Path


@dataclasses.dataclass(frozen=True)
class ClusterStatus:
    """How a recorded cluster is doing: its processes, and whether the API server is ready."""

    record: state.ClusterState
    processes: tuple[ProcessStatus, ...]
    api_ready: bool

    @property
    def healthy(self) -> bool:
        return self.api_ready and all(process.running for process in self.processes)


@dataclasses.dataclass(frozen=True)
class UpResult:
    record: state.ClusterState
    reused: bool
    # The processes of an earlier cluster that had died, whose remains were cleared first.
    cleared: tuple[ProcessStatus, ...] = ()


def inspect(paths: layout.ClusterLayout) -> ClusterStatus | None:
    """The status of the cluster recorded in `paths`, or None when none is recorded."""
    record = state.load(paths)
    if record is None:
        return None
    statuses = tuple(
        ProcessStatus(
            name=process.name,
            pid=process.pid,
            running=processes.is_running(process.pid),
            log=process.log,
        )
        for process in record.processes
    )
    with readiness.admin_client(paths, server=record.server) as api:
        ready = readiness.probe(api, "/readyz")
    return ClusterStatus(record=record, processes=statuses, api_ready=ready)


def up(
    paths: layout.ClusterLayout,
    *,
    bin_dir: pathlib.Path,
    kubelet: config.KubeletOptions | None,
    timeout_s: float,
) -> UpResult:
    """Starts a cluster that outlives this process (with the local kubelet when `kubelet` is
    given), or returns the one already running (reused, whatever its nodes). A recorded
    cluster that is no longer healthy is stopped and replaced."""
    with cluster.locked(paths):
        current = inspect(paths)
        if current is not None and current.healthy:
            return UpResult(record=current.record, reused=True)
        cleared: tuple[ProcessStatus, ...] = ()
        if current is not None:
            cleared = tuple(process for process in current.processes if not process.running)
            cluster.stop(current.record)
        record = cluster.start(
            paths=paths, bin_dir=bin_dir, tie_to_parent=False, timeout_s=timeout_s
        )
        if kubelet is not None:
            try:
                record = kubelet_process.start_kubelet(
                    record, options=kubelet, tie_to_parent=False, timeout_s=timeout_s
                )
            except BaseException:
                cluster.stop(state.load(paths) or record)
                raise
        return UpResult(record=record, reused=False, cleared=cleared)


def down(paths: layout.ClusterLayout, *, grace_s: float) -> state.ClusterState | None:
    """Stops the recorded cluster and returns its record, or None when none was recorded.
    Raises RuntimeError naming any process that survived SIGKILL."""
    with cluster.locked(paths):
        record = state.load(paths)
        if record is None:
            return None
        survivors = cluster.stop(record, grace_s=grace_s)
    if survivors:
        raise RuntimeError(
            f"processes {survivors} of the cluster in {paths.state_dir} survived SIGKILL"
        )
    return record
