"""Bringing a local kind cluster up and down, with a record of what was started so that `down`
(another process, later) undoes exactly that: the cluster, and, with the machine's last
cluster, our network, its fence and our Docker Engine.

Every cluster on the machine runs on the one engine of the cache, so every step that starts or
stops something holds the engine's lock: two `up`s at once make their clusters one after the
other, and a `down` never stops the engine under another's cluster or build."""

from __future__ import annotations

import contextlib
import pathlib
import uuid
from collections.abc import Iterator

import pydantic

from sloserve_dev import handle
from sloserve_dev.kind import builtin_images, cluster, docker_engine, images, tools

RECORD = "kind-cluster.json"


class KindRecord(pydantic.BaseModel):
    """What `up` made; `down` reads it."""

    model_config = pydantic.ConfigDict(frozen=True)

    name: str
    kubeconfig: pathlib.Path
    #: the engine this `up` started (None: it was running already)
    dockerd_pid: int | None
    nodes: tuple[str, ...] = ()
    gpu_product: str = cluster.DEFAULT_GPU_PRODUCT
    gpus_per_node: int = 8
    port_mappings: tuple[tuple[int, int], ...] = ()
    #: (host path, node path, read-only) of each directory mounted into the nodes
    host_mounts: tuple[tuple[str, str, bool], ...] = ()
    extra_images: tuple[str, ...] = ()
    loaded_images: tuple[str, ...] = ()


def _mounts(options: cluster.KindOptions) -> tuple[tuple[str, str, bool], ...]:
    return tuple((m.host_path, m.node_path, m.read_only) for m in options.host_mounts)


def _wanted(options: cluster.KindOptions) -> dict[str, object]:
    return {
        "name": options.name,
        "nodes": len(options.node_names()),
        "GPU product": options.gpu_product,
        "GPUs per node": options.gpus_per_node,
        "port mappings": tuple((m.container_port, m.host_port) for m in options.port_mappings),
        "mounts": _mounts(options),
        "extra images": options.extra_images,
    }


def _recorded(record: KindRecord) -> dict[str, object]:
    return {
        "name": record.name,
        "nodes": len(record.nodes),
        "GPU product": record.gpu_product,
        "GPUs per node": record.gpus_per_node,
        "port mappings": record.port_mappings,
        "mounts": record.host_mounts,
        "extra images": record.extra_images,
    }


def differences(record: KindRecord, options: cluster.KindOptions) -> list[str]:
    """What the recorded cluster has that `options` ask otherwise, as 'field: has, asked'."""
    has, asked = _recorded(record), _wanted(options)
    return [f"{key}: {has[key]} (asked {asked[key]})" for key in has if has[key] != asked[key]]


class ClusterConflictError(cluster.KindError):
    """`up` was asked for a cluster that cannot be made beside the one running; the message
    says which runs and what to do."""


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
def _locked(state_dir: pathlib.Path) -> Iterator[docker_engine.EngineLayout]:
    state_dir.mkdir(parents=True, exist_ok=True)
    engine = docker_engine.EngineLayout.default()
    with docker_engine.locked(engine):
        yield engine


def _session(
    state_dir: pathlib.Path,
    built: tools.Tools | None = None,
    engine: docker_engine.EngineLayout | None = None,
) -> cluster.Session:
    return cluster.Session(
        built=built if built is not None else tools.build_tools(),
        engine=engine if engine is not None else docker_engine.EngineLayout.default(),
        kubeconfig=state_dir / "kubeconfig",
    )


def _owners(engine: docker_engine.EngineLayout) -> pathlib.Path:
    """Which state directory made each cluster on the engine (one file per cluster name)."""
    return engine.root / "clusters"


def _conflict_message(
    name: str, state_dir: pathlib.Path, engine: docker_engine.EngineLayout
) -> str:
    owner = _owners(engine) / name
    where = owner.read_text().strip() if owner.is_file() else "another state directory"
    return (
        f"a kind cluster named {name} already runs on sloserve's Docker Engine, made from "
        f"{where}, not {state_dir}: use it with `sloserve dev up --state-dir {where}`, "
        f"delete it with `sloserve dev down --state-dir {where}`, or choose another --name"
    )


def up(
    state_dir: pathlib.Path, options: cluster.KindOptions, *, timeout_s: float = 300.0
) -> tuple[KindRecord, bool]:
    """Creates the cluster (building what is missing), or finds the recorded one still there;
    returns its record and whether it was reused. Raises ClusterConflictError when the
    recorded cluster runs with other options, or a cluster of that name runs from another
    state directory."""
    with _locked(state_dir) as engine:
        built = tools.build_tools()
        session = _session(state_dir, built, engine)
        current = load(state_dir)
        engine_runs = docker_engine.running_pid(engine) is not None
        running = cluster.clusters(session) if engine_runs else []
        if current is not None and current.name in running:
            changed = differences(current, options)
            if changed:
                raise ClusterConflictError(
                    f"the local cluster {current.name} recorded in {state_dir} runs with other "
                    f"settings ({'; '.join(changed)}): `sloserve dev down` it first, or use "
                    "another --state-dir and --name"
                )
            return current, True
        if current is not None:
            _down(state_dir, current, session)
        if options.name in running:
            raise ClusterConflictError(_conflict_message(options.name, state_dir, engine))
        pid = docker_engine.ensure_running(
            engine, runc_wrapper=built.runc_wrapper, dns=cluster.GATEWAY
        )
        record = KindRecord(
            name=options.name,
            kubeconfig=session.kubeconfig,
            dockerd_pid=pid,
            gpu_product=options.gpu_product,
            gpus_per_node=options.gpus_per_node,
            port_mappings=tuple((m.container_port, m.host_port) for m in options.port_mappings),
            host_mounts=_mounts(options),
            extra_images=options.extra_images,
        )
        _save(state_dir, record)
        _owners(engine).mkdir(parents=True, exist_ok=True)
        (_owners(engine) / options.name).write_text(f"{state_dir}\n")
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
    """Deletes the recorded cluster, and with the engine's last cluster our network, its
    fence and the engine; None when none is recorded."""
    with _locked(state_dir) as engine:
        record = load(state_dir)
        if record is None:
            return None
        _down(state_dir, record, _session(state_dir, engine=engine))
        return record


def _down(state_dir: pathlib.Path, record: KindRecord, session: cluster.Session) -> None:
    engine_runs = docker_engine.running_pid(session.engine) is not None
    if engine_runs:
        cluster.delete(session, record.name)
    (_owners(session.engine) / record.name).unlink(missing_ok=True)
    stop_engine_unless_used(session)
    _record_path(state_dir).unlink(missing_ok=True)
    record.kubeconfig.unlink(missing_ok=True)


def stop_engine_unless_used(session: cluster.Session) -> None:
    """With no kind cluster left on our engine: removes our network and its fence and stops
    the engine (by the pid its pid file names), whoever started it. The caller holds the
    engine's lock."""
    pid = docker_engine.running_pid(session.engine)
    if pid is not None and cluster.clusters(session):
        return
    if pid is not None:
        cluster.remove_network(session)
        docker_engine.stop(pid, layout=session.engine)
    else:
        cluster.FENCE.remove()


def build_images() -> list[tuple[str, bool]]:
    """Builds every registered image that is missing (tag, whether it was built now), on the
    engine, started for the purpose unless a cluster keeps it running."""
    engine = docker_engine.EngineLayout.default()
    built = tools.build_tools()
    with docker_engine.locked(engine):
        docker_engine.ensure_running(engine, runc_wrapper=built.runc_wrapper, dns=cluster.GATEWAY)
        session = cluster.Session(built=built, engine=engine, kubeconfig=engine.root / "unused")
        try:
            context = images.default_context(builtin_images.REPOSITORY)
            return [images.ensure(context, image) for image in images.registered()]
        finally:
            stop_engine_unless_used(session)


def handle_of(state_dir: pathlib.Path, record: KindRecord) -> handle.ClusterHandle:
    session = _session(state_dir)
    return cluster.handle_for(session, record.nodes, record.kubeconfig)


def session_cluster_name(prefix: str = "sloserve-test") -> str:
    """A cluster name of its own for one test session, so that sessions run side by side
    (each on its own cluster) instead of deleting each other's."""
    return f"{prefix}-{uuid.uuid4().hex[:4]}"


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
