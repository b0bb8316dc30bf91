"""`sloserve dev up/status/down`: a background cluster that later commands find again."""

from __future__ import annotations

import pathlib

import pytest
from click.testing import CliRunner

from sloserve.cli import dev

pytestmark = pytest.mark.cluster


def test_up_is_idempotent_and_down_stops_what_up_started(tmp_path: pathlib.Path) -> None:
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path / "state")]
    try:
        first = runner.invoke(dev.dev, ["up", *state, "--gpu-nodes", "0"])
        second = runner.invoke(dev.dev, ["up", *state, "--gpu-nodes", "0"])
        healthy = runner.invoke(dev.dev, ["status", *state])
    finally:
        stopped = runner.invoke(dev.dev, ["down", *state])
    again = runner.invoke(dev.dev, ["down", *state])
    gone = runner.invoke(dev.dev, ["status", *state])

    export = f"export KUBECONFIG={tmp_path / 'state' / 'kubeconfig'}\n"
    assert first.exit_code == 0, first.output
    assert first.stdout == export
    assert "started" in first.stderr
    assert second.stdout == export
    assert "already running" in second.stderr
    assert healthy.exit_code == 0
    assert "kube-apiserver" in healthy.output
    assert "stopped the local cluster" in stopped.output
    assert again.exit_code == 0
    assert "no local cluster" in again.output
    assert gone.exit_code == 1
