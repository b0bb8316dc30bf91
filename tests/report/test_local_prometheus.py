"""The local cluster's Prometheus helper: its configuration, its targets, its installation rules,
and a real start and stop that leaves no process behind."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import time
from typing import Any

import httpx
import pytest
import yaml

from sloserve_dev import prometheus

needs_prometheus = pytest.mark.skipif(
    prometheus.find_binary() is None,
    reason="Debian's prometheus is not installed; install it with"
    " `sudo apt-get install -y prometheus` (`make setup` does)",
)


def _pod(name: str, **overrides: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "labels": {
                "app.kubernetes.io/name": "sloserve-engine",
                "sloserve.io/modelservice": "llama-8b",
            },
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8000"},
        },
        "spec": {"containers": [{"name": "engine", "ports": [{"containerPort": 9000}]}]},
        "status": {"phase": "Running", "podIP": "127.0.10.2"},
    }
    for key, value in overrides.items():
        section, field = key.split("__")
        pod[section][field] = value
    return pod


def test_configuration_scrapes_the_targets_file_and_keeps_exporter_labels() -> None:
    config = prometheus.scrape_config(
        targets_file=pathlib.Path("targets.json"), scrape_interval_s=1.5
    )
    assert config["global"]["scrape_interval"] == "1500ms"
    (job,) = config["scrape_configs"]
    assert job["honor_labels"] is True
    assert job["file_sd_configs"] == [{"files": ["targets.json"], "refresh_interval": "5s"}]


def test_targets_file_holds_each_target_with_its_job_path_and_labels(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "targets.json"
    prometheus.write_targets(
        path,
        [
            prometheus.ScrapeTarget("127.0.0.1:8080", "gateway"),
            prometheus.ScrapeTarget("127.0.0.2:8000", "engine", {"pod": "e-0"}, "/m"),
        ],
    )
    assert json.loads(path.read_text()) == [
        {
            "targets": ["127.0.0.1:8080"],
            "labels": {"job": "gateway", "__metrics_path__": "/metrics"},
        },
        {
            "targets": ["127.0.0.2:8000"],
            "labels": {"job": "engine", "__metrics_path__": "/m", "pod": "e-0"},
        },
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["targets.json"]


def test_annotated_running_pods_become_targets_with_their_modelservice() -> None:
    targets = prometheus.pod_targets({"items": [_pod("llama-8b-0")]})
    assert targets == [
        prometheus.ScrapeTarget(
            address="127.0.10.2:8000",
            job="sloserve-engine",
            labels={"namespace": "team-a", "pod": "llama-8b-0", "modelservice": "llama-8b"},
        )
    ]


def test_pod_without_port_annotation_uses_its_first_container_port() -> None:
    pod = _pod("p", metadata__annotations={"prometheus.io/scrape": "true"})
    (target,) = prometheus.pod_targets({"items": [pod]})
    assert target.address == "127.0.10.2:9000"


def test_pods_not_annotated_not_running_or_without_ip_are_not_targets() -> None:
    pods = [
        _pod("plain", metadata__annotations={}),
        _pod("pending", status__phase="Pending"),
        _pod("no-ip", status__podIP=""),
    ]
    assert prometheus.pod_targets({"items": pods}) == []


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed; it comes with Debian's prometheus package",
)
def test_generated_configuration_passes_promtool(tmp_path: pathlib.Path) -> None:
    targets = tmp_path / "targets.json"
    prometheus.write_targets(targets, [prometheus.ScrapeTarget("127.0.0.1:8080", "gateway")])
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(prometheus.scrape_config(targets_file=targets)))
    checked = subprocess.run(
        ["promtool", "check", "config", str(config_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_missing_prometheus_without_root_says_what_to_run() -> None:
    def must_not_run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise AssertionError("apt-get must not run without root")

    with pytest.raises(
        prometheus.PrometheusUnavailableError, match="sudo apt-get install -y prometheus"
    ):
        prometheus.ensure_prometheus(run=must_not_run, is_root=lambda: False, find=lambda: None)


def test_missing_prometheus_as_root_is_installed_with_apt_get() -> None:
    commands: list[list[str]] = []
    installed: list[pathlib.Path] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(argv)
        assert kwargs["env"]["DEBIAN_FRONTEND"] == "noninteractive"
        if "install" in argv:
            installed.append(pathlib.Path("bin/prometheus"))
        return subprocess.CompletedProcess(argv, 0, "", "")

    found = prometheus.ensure_prometheus(
        run=run, is_root=lambda: True, find=lambda: installed[0] if installed else None
    )
    assert found == pathlib.Path("bin/prometheus")
    assert commands == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"],
    ]


def test_failed_installation_shows_apt_get_output() -> None:
    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 100, "", "E: Unable to locate package")

    with pytest.raises(prometheus.PrometheusUnavailableError, match="Unable to locate package"):
        prometheus.ensure_prometheus(run=run, is_root=lambda: True, find=lambda: None)


def _active_targets(url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/targets", timeout=5).json()
    targets: list[dict[str, Any]] = answer["data"]["activeTargets"]
    return targets


@needs_prometheus
def test_targets_set_while_running_are_scraped_and_stop_leaves_no_trace() -> None:
    server = prometheus.start_prometheus(scrape_interval_s=1.0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert _active_targets(server.url) == []
        server.set_targets([prometheus.ScrapeTarget("127.0.0.1:9", "gateway", {"cluster": "x"})])
        deadline = time.monotonic() + 60
        while not (found := _active_targets(server.url)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert [target["labels"] for target in found] == [
            {"cluster": "x", "instance": "127.0.0.1:9", "job": "gateway"}
        ]
    finally:
        server.stop()
    assert not pathlib.Path(f"/proc/{server.pid}").exists()
    assert not server.work_dir.exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/-/ready", timeout=2)


@needs_prometheus
def test_stop_is_safe_to_repeat() -> None:
    with prometheus.start_prometheus(scrape_interval_s=1.0) as server:
        pass
    server.stop()
    assert not pathlib.Path(f"/proc/{server.pid}").exists()
