"""`sloserve dev up` then `down` on a one-node kind cluster: the cluster runs pods, a second
`up` finds it or refuses clearly, and nothing it made is left behind afterwards (no container,
network, bridge, route, iptables rule or process)."""

from __future__ import annotations

import pathlib
import subprocess

import pytest
from click.testing import CliRunner

from sloserve_dev import cli, processes
from sloserve_dev.kind import cluster, docker_engine, egress, lifecycle

pytestmark = pytest.mark.kind

NAME = "sloserve-updown"


def _run(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False).stdout


def _kind_containers(engine: docker_engine.EngineLayout) -> list[str]:
    if docker_engine.running_pid(engine) is None:
        return []
    listed = _run(
        docker_engine.DOCKER,
        "-H",
        engine.host,
        "ps",
        "-a",
        "--filter",
        "label=io.x-k8s.kind.cluster",
        "--format",
        "{{.Names}}",
    )
    return listed.split()


def test_down_leaves_nothing_that_up_made(tmp_path: pathlib.Path) -> None:
    engine = docker_engine.EngineLayout.default()
    already_running = docker_engine.running_pid(engine)
    others = _kind_containers(engine)
    forward_policy_before = _run("iptables", "-S", "FORWARD").splitlines()[0]
    state = ["--state-dir", str(tmp_path)]
    runner = CliRunner()

    created = runner.invoke(cli.dev, ["up", *state, "--name", NAME, "--nodes", "1"])
    assert created.exit_code == 0, created.output
    record = lifecycle.load(tmp_path)
    assert record is not None
    running = lifecycle.handle_of(tmp_path, record)
    gpus = running.kubectl(
        "get",
        "node",
        f"{NAME}-control-plane",
        "-o",
        "jsonpath={.status.allocatable.nvidia\\.com/gpu}",
    ).stdout
    assert gpus == "8"
    assert running.server.startswith("https://127.0.0.1:")

    again = runner.invoke(cli.dev, ["up", *state, "--name", NAME, "--nodes", "1"])
    assert again.exit_code == 0, again.output
    assert f"kind cluster {NAME} already running" in again.output
    other_settings = runner.invoke(cli.dev, ["up", *state, "--name", NAME, "--nodes", "2"])
    assert other_settings.exit_code == 1
    assert "nodes: 1 (asked 2)" in other_settings.output
    elsewhere = tmp_path / "elsewhere"
    same_name = runner.invoke(cli.dev, ["up", "--state-dir", str(elsewhere), "--name", NAME])
    assert same_name.exit_code == 1
    assert f"made from {tmp_path}" in same_name.output
    assert lifecycle.load(elsewhere) is None

    deleted = runner.invoke(cli.dev, ["down", *state])
    assert deleted.exit_code == 0, deleted.output
    assert lifecycle.load(tmp_path) is None
    assert not record.kubeconfig.exists()
    assert _kind_containers(engine) == others
    if not others:
        # the machine's last cluster: `down` stopped the engine and undid what it changed
        assert record.dockerd_pid is not None or already_running is not None
        if record.dockerd_pid is not None:
            assert not processes.is_running(record.dockerd_pid)
        assert docker_engine.running_pid(engine) is None
        rules = _run("iptables", "-S") + _run("iptables", "-t", "nat", "-S")
        assert "DOCKER" not in rules
        assert _run("iptables", "-S", "FORWARD").splitlines()[0] == forward_policy_before
        assert str(engine.exec_root) not in _run("ps", "-eo", "args")
        assert egress.CHAIN not in _run("iptables", "-S") + _run("ip6tables", "-S")
        assert cluster.BRIDGE not in _run("ip", "link")
        assert cluster.SUBNET not in _run("ip", "route")
    local_routes = _run("ip", "-4", "route", "show", "table", "local")
    assert all(" 127." in line or "dev lo" not in line for line in local_routes.splitlines())
