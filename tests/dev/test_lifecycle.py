"""Starting and stopping a local control plane: nothing is left behind, failures are named."""

from __future__ import annotations

import os
import pathlib
import signal
import stat
import subprocess

import pytest

from dev.helpers import apply, python_pod, wait_for_pod
from sloserve.dev import (
    build,
    cluster,
    handle,
    kubelet_process,
    layout,
    processes,
    readiness,
    session,
    state,
)
from sloserve.dev.kubelet import config

pytestmark = pytest.mark.cluster


def test_stopping_a_cluster_leaves_none_of_its_processes_or_data(tmp_path: pathlib.Path) -> None:
    paths = layout.ClusterLayout(tmp_path / "cluster")

    with session.local_cluster(paths.state_dir) as running:
        record = state.load(paths)
        assert record is not None
        assert running.kubectl("get", "--raw", "/readyz").stdout == "ok"
        pids = [process.pid for process in record.processes]
        assert len(pids) == len(cluster.REQUIRED_BINARIES)
        assert all(processes.is_running(pid) for pid in pids)

    assert not any(processes.is_running(pid) for pid in pids)
    assert not any(processes.group_members(pid) for pid in pids)
    assert not record.etcd_data_dir.exists()
    assert state.load(paths) is None


def test_a_component_that_exits_at_start_is_named_with_its_log(tmp_path: pathlib.Path) -> None:
    real_bin_dir = build.build()
    fake_bin_dir = tmp_path / "bin"
    fake_bin_dir.mkdir()
    for name in cluster.REQUIRED_BINARIES:
        os.symlink(real_bin_dir / name, fake_bin_dir / name)
    broken = fake_bin_dir / "kube-apiserver"
    broken.unlink()
    broken.write_text("#!/bin/sh\necho 'error: cannot open the tea kettle' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    paths = layout.ClusterLayout(tmp_path / "cluster")

    with pytest.raises(readiness.ComponentFailedError) as failure:
        cluster.start(paths=paths, bin_dir=fake_bin_dir, tie_to_parent=True, timeout_s=60)

    message = str(failure.value)
    assert message.startswith("kube-apiserver exited during start-up")
    assert "cannot open the tea kettle" in message
    assert str(paths.log_file("kube-apiserver")) in message
    assert state.load(paths) is None


def _run_a_pod(running: handle.ClusterHandle) -> int:
    """Starts a long-running pod and returns its process id once it runs."""
    apply(running, python_pod("sleeper", "default", args=["-c", "import time; time.sleep(600)"]))
    pod = wait_for_pod(
        running,
        "default",
        "sleeper",
        lambda pod: "running" in pod["status"].get("containerStatuses", [{}])[0].get("state", {}),
        what="running",
    )
    container_id = pod["status"]["containerStatuses"][0]["containerID"]
    return int(container_id.removeprefix("sloserve-local://"))


def _pod_cidr(running: handle.ClusterHandle) -> str:
    jsonpath = "jsonpath={.spec.podCIDR}"
    return running.kubectl("get", "node", running.nodes[0], "-o", jsonpath).stdout


def _routed_blocks() -> str:
    return subprocess.run(
        ["ip", "route", "show", "table", "local"], capture_output=True, text=True, check=True
    ).stdout


def test_stopping_a_cluster_ends_its_pods_and_releases_their_addresses(
    tmp_path: pathlib.Path,
) -> None:
    paths = layout.ClusterLayout(tmp_path / "cluster")
    options = config.KubeletOptions(nodes=1)

    with session.local_cluster(paths.state_dir, kubelet=options) as running:
        pod_pid = _run_a_pod(running)
        node_cidr = _pod_cidr(running)
        record = state.load(paths)
        assert record is not None
        assert node_cidr in _routed_blocks()

    assert not processes.is_running(pod_pid)
    assert not any(processes.is_running(process.pid) for process in record.processes)
    assert node_cidr not in _routed_blocks()


def test_stopping_a_cluster_whose_kubelet_was_killed_still_ends_its_pods(
    tmp_path: pathlib.Path,
) -> None:
    paths = layout.ClusterLayout(tmp_path / "cluster")
    options = config.KubeletOptions(nodes=1)

    with session.local_cluster(paths.state_dir, kubelet=options) as running:
        pod_pid = _run_a_pod(running)
        node_cidr = _pod_cidr(running)
        record = state.load(paths)
        assert record is not None
        kubelet = next(p for p in record.processes if p.name == kubelet_process.KUBELET)
        os.kill(kubelet.pid, signal.SIGKILL)

    assert not processes.is_running(pod_pid)
    assert node_cidr not in _routed_blocks()
