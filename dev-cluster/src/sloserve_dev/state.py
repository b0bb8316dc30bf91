"""The record of a running local cluster, kept in its state directory so that a later command
(`sloserve dev status`, `sloserve dev down`) can find and stop what an earlier one started."""

from __future__ import annotations

import os
import pathlib

import pydantic

from sloserve_dev import layout


class ComponentProcess(pydantic.BaseModel):
    """One started process; its pid is also its process group id."""

    model_config = pydantic.ConfigDict(frozen=True)

    name: str
    pid: int
    log: pathlib.Path


class ClusterState(pydantic.BaseModel):
    """What `start` created: where to reach the cluster and what to stop."""

    model_config = pydantic.ConfigDict(frozen=True)

    state_dir: pathlib.Path
    server: str
    kubeconfig: pathlib.Path
    bin_dir: pathlib.Path
    etcd_data_dir: pathlib.Path
    processes: tuple[ComponentProcess, ...] = ()
    nodes: tuple[str, ...] = ()

    def with_process(self, process: ComponentProcess) -> ClusterState:
        return self.model_copy(update={"processes": (*self.processes, process)})


def save(state: ClusterState) -> None:
    """Writes the record atomically: a reader sees the old record or the new one."""
    target = layout.ClusterLayout(state.state_dir).state_file
    scratch = target.with_suffix(".tmp")
    scratch.write_text(state.model_dump_json(indent=2))
    os.replace(scratch, target)


def load(paths: layout.ClusterLayout) -> ClusterState | None:
    """The recorded cluster, or None when there is none."""
    try:
        text = paths.state_file.read_text()
    except FileNotFoundError:
        return None
    return ClusterState.model_validate_json(text)


def forget(paths: layout.ClusterLayout) -> None:
    paths.state_file.unlink(missing_ok=True)
