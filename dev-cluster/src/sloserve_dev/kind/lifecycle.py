"""Bringing a local kind cluster up and down, with a record of what was started so that `down`
(another process, later) undoes exactly that: the cluster, our network and its fence, and the
Docker Engine if this `up` started it."""

from __future__ import annotations

import contextlib
import fcntl
import pathlib
from collections.abc import Iterator

import pydantic

from sloserve_dev import handle
from sloserve_dev.kind import cluster, docker_engine, tools

RECORD = "kind-cluster.json"


class KindRecord(pydantic.BaseModel):
    """What `up` made; `down` reads it."""

    model_config = pydantic.ConfigDict(frozen=True)

    name: str
    kubeconfig: pathlib.Path
    #: the engine this `up` started (None: it was running already, someone else's to stop)
    dockerd_pid: int | None
    nodes: tuple[str, ...] = ()
    loaded_images: tuple[str, ...] = ()


def _record_path(state_dir: pathlib.Path) -> pathlib.Path:
    return state_dir / RECORD


def load(state_dir: pathlib.Path) -> KindRecord | None:
    path = _record_path(state_dir)
    return KindRecord.model_validate_json(path.read_text()) if path.is_file() else None


def _save(state_dir: pathlib.Path, record: KindRecord) -> None:
    path = _record_path(state_dir)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(record.model_dump_json(indent=2))
    scratch.replace(path)


@contextlib.contextmanager
def _locked(state_dir: pathlib.Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "kind.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _session(state_dir: pathlib.Path, built: tools.Tools | None = None) -> cluster.Session:
    return cluster.Session(
        built=built if built is not None else tools.build_tools(),
        engine=docker_engine.EngineLayout.default(),
        kubeconfig=state_dir / "kubeconfig",
    )


def up(
    state_dir: pathlib.Path, options: cluster.KindOptions, *, timeout_s: float = 300.0
) -> tuple[KindRecord, bool]:
    """Creates the cluster (building what is missing), or finds the recorded one still there;
    returns its record and whether it was reused."""
    with _locked(state_dir):
        built = tools.build_tools()
        session = _session(state_dir, built)
        current = load(state_dir)
        if (
            current is not None
            and docker_engine.running_pid(session.engine) is not None
            and current.name in cluster.clusters(session)
        ):
            return current, True
        if current is not None:
            _down(state_dir, current, session)
        pid = docker_engine.ensure_running(
            session.engine, runc_wrapper=built.runc_wrapper, dns=cluster.GATEWAY
        )
        record = KindRecord(name=options.name, kubeconfig=session.kubeconfig, dockerd_pid=pid)
        _save(state_dir, record)
        try:
            loaded = cluster.create(session, options, timeout_s=timeout_s)
        except BaseException:
            _down(state_dir, record, session)
            raise
        record = record.model_copy(
            update={"nodes": tuple(options.node_names()), "loaded_images": tuple(loaded)}
        )
        _save(state_dir, record)
        return record, False


def down(state_dir: pathlib.Path) -> KindRecord | None:
    """Deletes the recorded cluster, and whatever its `up` started; None when none is recorded."""
    with _locked(state_dir):
        record = load(state_dir)
        if record is None:
            return None
        _down(state_dir, record, _session(state_dir))
        return record


def _down(state_dir: pathlib.Path, record: KindRecord, session: cluster.Session) -> None:
    engine_runs = docker_engine.running_pid(session.engine) is not None
    if engine_runs:
        cluster.delete(session, record.name)
    others = cluster.clusters(session) if engine_runs else []
    if not others:
        if engine_runs:
            cluster.remove_network(session)
        else:
            cluster.FENCE.remove()
        if record.dockerd_pid is not None:
            docker_engine.stop(record.dockerd_pid, layout=session.engine)
    _record_path(state_dir).unlink(missing_ok=True)
    record.kubeconfig.unlink(missing_ok=True)


def handle_of(state_dir: pathlib.Path, record: KindRecord) -> handle.ClusterHandle:
    session = _session(state_dir)
    return cluster.handle_for(session, record.nodes, record.kubeconfig)


@contextlib.contextmanager
def kind_cluster(
    state_dir: pathlib.Path, options: cluster.KindOptions
) -> Iterator[handle.ClusterHandle]:
    """A cluster for the span of a `with` block (a test session): up, then down."""
    record, _ = up(state_dir, options)
    try:
        yield handle_of(state_dir, record)
    finally:
        down(state_dir)
