from __future__ import annotations

import yaml
from click.testing import CliRunner

from sloserve.cli import main


def test_scheduler_config_prints_a_configuration_the_scheduler_reads() -> None:
    result = CliRunner().invoke(
        main,
        [
            "placement",
            "scheduler-config",
            "--extender-url",
            "http://127.0.0.1:8788",
            "--no-leader-elect",
            "--kubeconfig",
            "admin.conf",
        ],
    )
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.output)
    assert config["kind"] == "KubeSchedulerConfiguration"
    assert config["clientConnection"] == {"kubeconfig": "admin.conf"}
    assert config["extenders"][0]["urlPrefix"] == "http://127.0.0.1:8788"


def test_a_bad_extender_url_is_refused_naming_it() -> None:
    result = CliRunner().invoke(
        main, ["placement", "scheduler-config", "--extender-url", "localhost:8788"]
    )
    assert result.exit_code != 0
    assert "extender_url" in result.output


def test_placement_lists_its_commands() -> None:
    result = CliRunner().invoke(main, ["placement", "--help"])
    assert result.exit_code == 0
    for command in ("train", "evaluate", "extender", "scheduler-config"):
        assert command in result.output
