"""Starting and stopping a local control plane: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler on loopback, with a fresh PKI and etcd data in a temporary directory."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import pathlib
import shutil
import tempfile
from collections.abc import Iterator

import httpx

from sloserve_dev import components, credentials, layout, processes, readiness, state

REQUIRED_BINARIES = (
    components.ETCD,
    components.APISERVER,
    components.CONTROLLER_MANAGER,
    components.SCHEDULER,
)
DEFAULT_GRACE_S = 10.0


class ClusterExistsError(RuntimeError):
    """The state directory already records a cluster; stop it (or reuse it) first."""


@contextlib.contextmanager
def locked(paths: layout.ClusterLayout) -> Iterator[None]:
    """Holds the state directory's lock, so that two commands never start or stop one cluster
    at the same time."""
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    with paths.lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start(
    *,
    paths: layout.ClusterLayout,
    bin_dir: pathlib.Path,
    tie_to_parent: bool,
    timeout_s: float = 180.0,
) -> state.ClusterState:
    """Starts the control plane and returns once the API server is ready, the controller-manager
    and scheduler are healthy, and the `default` ServiceAccount exists in namespace `default`.

    The caller holds `locked(paths)`. The record is saved after every process start, so that
    `stop` can clean up a half-started cluster; on failure this function does so itself and
    raises ComponentFailedError naming the component. With `tie_to_parent`, the processes die with
    the calling process (for test sessions)."""
    missing = [name for name in REQUIRED_BINARIES if not (bin_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{', '.join(missing)} missing from {bin_dir}; run `sloserve dev build` first"
        )
    if paths.state_file.exists():
        raise ClusterExistsError(
            f"{paths.state_file} records a cluster already; run `sloserve dev down` first"
        )
    ports = components.Ports.pick_free()
    server = f"https://127.0.0.1:{ports.apiserver}"
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    credentials.write_cluster_credentials(paths, server=server)
    record = state.ClusterState(
        state_dir=paths.state_dir,
        server=server,
        kubeconfig=paths.kubeconfig,
        bin_dir=bin_dir,
        etcd_data_dir=pathlib.Path(tempfile.mkdtemp(prefix="sloserve-etcd-")),
    )
    state.save(record)
    try:
        return _start_components(
            record, paths=paths, ports=ports, tie_to_parent=tie_to_parent, timeout_s=timeout_s
        )
    except BaseException:
        current = state.load(paths)
        stop(current if current is not None else record)
        raise


def _start_components(
    record: state.ClusterState,
    *,
    paths: layout.ClusterLayout,
    ports: components.Ports,
    tie_to_parent: bool,
    timeout_s: float,
) -> state.ClusterState:
    bin_dir = record.bin_dir

    def launch(name: str, argv: list[str]) -> state.ComponentProcess:
        nonlocal record
        log = paths.log_file(name)
        popen = processes.spawn(argv=argv, log_path=log, tie_to_parent=tie_to_parent)
        started = state.ComponentProcess(name=name, pid=popen.pid, log=log)
        record = record.with_process(started)
        state.save(record)
        return started

    etcd = launch(
        components.ETCD,
        components.etcd_argv(bin_dir=bin_dir, data_dir=record.etcd_data_dir, ports=ports),
    )
    with httpx.Client(timeout=2.0) as plain:
        readiness.wait_for(
            lambda: readiness.probe(plain, f"http://127.0.0.1:{ports.etcd_client}/health"),
            what="answer /health",
            blame=etcd,
            watched=[etcd],
            timeout_s=timeout_s,
        )
    apiserver = launch(
        components.APISERVER,
        components.apiserver_argv(bin_dir=bin_dir, paths=paths, ports=ports),
    )
    with readiness.admin_client(paths, server=record.server) as api:
        readiness.wait_for(
            lambda: readiness.probe(api, "/readyz"),
            what="become ready (/readyz)",
            blame=apiserver,
            watched=[etcd, apiserver],
            timeout_s=timeout_s,
        )
        controller_manager = launch(
            components.CONTROLLER_MANAGER,
            components.controller_manager_argv(bin_dir=bin_dir, paths=paths, ports=ports),
        )
        scheduler = launch(
            components.SCHEDULER,
            components.scheduler_argv(bin_dir=bin_dir, paths=paths, ports=ports),
        )
        everything = [etcd, apiserver, controller_manager, scheduler]
        readiness.wait_for(
            lambda: readiness.probe(api, "/api/v1/namespaces/default/serviceaccounts/default"),
            what="create the default ServiceAccount",
            blame=controller_manager,
            watched=everything,
            timeout_s=timeout_s,
        )
    # Their serving certificates are self-signed at start; health is all that is asked of them.
    with httpx.Client(verify=False, timeout=2.0) as insecure:
        for component, port in (
            (controller_manager, ports.controller_manager),
            (scheduler, ports.scheduler),
        ):
            healthz = f"https://127.0.0.1:{port}/healthz"
            readiness.wait_for(
                functools.partial(readiness.probe, insecure, healthz),
                what="answer /healthz",
                blame=component,
                watched=everything,
                timeout_s=timeout_s,
            )
    return record


def stop(record: state.ClusterState, *, grace_s: float = DEFAULT_GRACE_S) -> list[int]:
    """Stops every recorded process group (SIGTERM, then SIGKILL after `grace_s`), newest first
    so that the API server goes before etcd; removes the etcd data and the record. Idempotent.
    Returns pids that even SIGKILL did not end (normally none)."""
    paths = layout.ClusterLayout(record.state_dir)
    survivors: list[int] = []
    for component in reversed(record.processes):
        survivors += processes.stop_groups([component.pid], grace_s=grace_s)
    shutil.rmtree(record.etcd_data_dir, ignore_errors=True)
    state.forget(paths)
    return survivors
