"""Starting and stopping a local control plane: nothing is left behind, failures are named."""

from __future__ import annotations

import os
import pathlib
import stat

import pytest

from sloserve.dev import build, cluster, layout, processes, readiness, session, state

pytestmark = pytest.mark.cluster


def test_stopping_a_cluster_leaves_none_of_its_processes_or_data(tmp_path: pathlib.Path) -> None:
    paths = layout.ClusterLayout(tmp_path / "cluster")

    with session.local_control_plane(paths.state_dir) as running:
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
