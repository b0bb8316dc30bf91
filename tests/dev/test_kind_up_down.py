"""`sloserve dev up` then `down` on a one-node kind cluster: the cluster runs pods, and nothing
it made is left behind afterwards (no container, network, bridge, route, iptables rule or
process)."""

from __future__ import annotations

import pathlib
import subprocess

import pytest
from click.testing import CliRunner

from sloserve_dev import cli, processes
from sloserve_dev.kind import cluster, docker_engine, egress, lifecycle

pytestmark = pytest.mark.kind


def _run(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False).stdout


def test_down_leaves_nothing_that_up_made(tmp_path: pathlib.Path) -> None:
    engine = docker_engine.EngineLayout.default()
    already_running = docker_engine.running_pid(engine)
    forward_policy_before = _run("iptables", "-S", "FORWARD").splitlines()[0]
    state = ["--state-dir", str(tmp_path)]
    runner = CliRunner()

    created = runner.invoke(cli.dev, ["up", *state, "--name", "sloserve-updown", "--nodes", "1"])
    assert created.exit_code == 0, created.output
    record = lifecycle.load(tmp_path)
    assert record is not None
    running = lifecycle.handle_of(tmp_path, record)
    gpus = running.kubectl(
        "get",
        "node",
        "sloserve-updown-control-plane",
        "-o",
        "jsonpath={.status.allocatable.nvidia\\.com/gpu}",
    ).stdout
    assert gpus == "8"
    assert running.server.startswith("https://127.0.0.1:")

    deleted = runner.invoke(cli.dev, ["down", *state])
    assert deleted.exit_code == 0, deleted.output
    assert lifecycle.load(tmp_path) is None
    assert not record.kubeconfig.exists()
    if already_running is None:
        # this `up` started the engine: `down` stopped it and undid what it changed
        assert record.dockerd_pid is not None
        assert not processes.is_running(record.dockerd_pid)
        assert docker_engine.running_pid(engine) is None
        rules = _run("iptables", "-S") + _run("iptables", "-t", "nat", "-S")
        assert "DOCKER" not in rules
        assert _run("iptables", "-S", "FORWARD").splitlines()[0] == forward_policy_before
        assert str(engine.exec_root) not in _run("ps", "-eo", "args")
    else:
        listed = _run(docker_engine.DOCKER, "-H", engine.host, "ps", "-a", "--format", "{{.Names}}")
        assert "sloserve-updown" not in listed
    assert egress.CHAIN not in _run("iptables", "-S") + _run("ip6tables", "-S")
    if already_running is None:
        assert cluster.BRIDGE not in _run("ip", "link")
        assert cluster.SUBNET not in _run("ip", "route")
    local_routes = _run("ip", "-4", "route", "show", "table", "local")
    assert all(" 127." in line or "dev lo" not in line for line in local_routes.splitlines())
