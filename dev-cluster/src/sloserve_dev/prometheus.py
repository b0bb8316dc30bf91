"""The local cluster's Prometheus: Debian's `prometheus` binary with a generated configuration.

It listens on a free loopback port and keeps its storage in a fresh temporary directory. Its
targets live in a file it watches (file-based service discovery), so the caller can change them
while it runs with `LocalPrometheus.set_targets`: Debian's build of Prometheus has no Kubernetes
discovery, so whoever knows the cluster's pods lists them (`pod_targets` turns a PodList into
targets) and hands them over. Pods are scraped when they carry the usual annotations:
`prometheus.io/scrape: "true"`, optionally `prometheus.io/port` and `prometheus.io/path`; their
targets gain `namespace`, `pod` and, from the pod label `sloserve.io/modelservice`,
`modelservice`. The exporter's own labels win (`honor_labels`), so a gateway's `namespace` label
on its series is kept. Stopping it stops its process group and removes the directory, leaving no
process behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx
import yaml

from sloserve_dev import processes

#: The Debian (and Ubuntu) package that provides `/usr/bin/prometheus`.
PACKAGE = "prometheus"
INSTALL_HINT = f"sudo apt-get install -y {PACKAGE}"
#: The pod label that names an engine's ModelService (set by the operator's builders).
MODELSERVICE_POD_LABEL = "sloserve.io/modelservice"
#: The pod label whose value becomes a pod target's `job` (the chart and builders set it).
NAME_LABEL = "app.kubernetes.io/name"
SCRAPE_ANNOTATION = "prometheus.io/scrape"
PORT_ANNOTATION = "prometheus.io/port"
PATH_ANNOTATION = "prometheus.io/path"
_STOP_GRACE_S = 10.0
_POLL_INTERVAL_S = 0.1
_START_ATTEMPTS = 3


class PrometheusUnavailableError(RuntimeError):
    """Prometheus is not installed and could not be, or did not start; the message says what to
    run or shows the end of its log."""


def find_binary() -> pathlib.Path | None:
    """The `prometheus` executable on PATH, or None."""
    found = shutil.which("prometheus")
    return pathlib.Path(found) if found else None


def ensure_prometheus(
    *,
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
    is_root: Callable[[], bool] = lambda: os.geteuid() == 0,
    find: Callable[[], pathlib.Path | None] = find_binary,
) -> pathlib.Path:
    """The path of the `prometheus` binary, installing Debian's package with apt-get first when it
    is missing and this process runs as root. Raises PrometheusUnavailableError saying what to run
    when it is missing and this process is not root, or when the installation fails.

    On a machine booted with systemd the package also enables a system-wide Prometheus on port
    9090; the local cluster does not use it (it starts its own on a free port).
    """
    found = find()
    if found is not None:
        return found
    if not is_root():
        raise PrometheusUnavailableError(
            "Prometheus is not installed (no `prometheus` on PATH); install Debian's package"
            f" with: {INSTALL_HINT}"
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE],
    ):
        result = run(argv, capture_output=True, text=True, env=environment, check=False)
        if result.returncode != 0:
            raise PrometheusUnavailableError(
                f"`{' '.join(argv)}` failed with exit code {result.returncode}:\n"
                f"{(result.stderr or result.stdout)[-2000:]}\nInstall it by hand: {INSTALL_HINT}"
            )
    found = find()
    if found is None:
        raise PrometheusUnavailableError(
            f"apt-get installed {PACKAGE} but `prometheus` is still not on PATH; check PATH"
            " includes /usr/bin"
        )
    return found


@dataclasses.dataclass(frozen=True)
class ScrapeTarget:
    """An endpoint to scrape: `address` is host:port; `labels` are added to its series (the
    exporter's own labels win)."""

    address: str
    job: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    metrics_path: str = "/metrics"


#: How often Prometheus re-reads the targets file; it also watches the file for changes.
TARGETS_REFRESH = "5s"


def scrape_config(*, targets_file: pathlib.Path, scrape_interval_s: float = 2.0) -> dict[str, Any]:
    """The Prometheus configuration (as data, for YAML): one job whose targets come from
    `targets_file`; each target's `job` label comes from the file."""
    interval = f"{max(1, round(scrape_interval_s * 1000))}ms"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": "sloserve",
                "honor_labels": True,
                "file_sd_configs": [
                    {"files": [str(targets_file)], "refresh_interval": TARGETS_REFRESH}
                ],
            }
        ],
    }


def target_groups(targets: Sequence[ScrapeTarget]) -> list[dict[str, Any]]:
    """The targets in the file-discovery format: one group per target."""
    return [
        {
            "targets": [target.address],
            "labels": {
                "job": target.job,
                "__metrics_path__": target.metrics_path,
                **target.labels,
            },
        }
        for target in targets
    ]


def write_targets(path: pathlib.Path, targets: Sequence[ScrapeTarget]) -> None:
    """Replaces the targets file at once, so Prometheus never reads half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(target_groups(targets), indent=2))
    os.replace(partial, path)


def pod_targets(pod_list: Mapping[str, Any]) -> list[ScrapeTarget]:
    """Targets for the running pods of a Kubernetes PodList (as `kubectl get pods -A -o json`
    prints it) that carry `prometheus.io/scrape: "true"`; the port is `prometheus.io/port`, else
    the pod's first declared container port. A pod without an IP or a port is left out: it
    cannot be scraped yet."""
    targets = []
    for pod in pod_list.get("items", ()):
        metadata = pod.get("metadata", {})
        annotations = metadata.get("annotations") or {}
        labels = metadata.get("labels") or {}
        status = pod.get("status", {})
        if annotations.get(SCRAPE_ANNOTATION) != "true" or status.get("phase") != "Running":
            continue
        port = annotations.get(PORT_ANNOTATION) or _first_port(pod)
        if not status.get("podIP") or not port:
            continue
        target_labels = {"namespace": metadata.get("namespace", ""), "pod": metadata["name"]}
        if labels.get(MODELSERVICE_POD_LABEL):
            target_labels["modelservice"] = labels[MODELSERVICE_POD_LABEL]
        targets.append(
            ScrapeTarget(
                address=f"{status['podIP']}:{port}",
                job=labels.get(NAME_LABEL, "kubernetes-pods"),
                labels=target_labels,
                metrics_path=annotations.get(PATH_ANNOTATION, "/metrics"),
            )
        )
    return targets


def _first_port(pod: Mapping[str, Any]) -> str | None:
    for container in pod.get("spec", {}).get("containers", ()):
        for port in container.get("ports") or ():
            if "containerPort" in port:
                return str(port["containerPort"])
    return None


@dataclasses.dataclass(frozen=True)
class LocalPrometheus:
    """A started Prometheus: its URL, its process (group) id, and the directory holding its
    configuration, storage and log. Usable as a context manager that stops it on exit."""

    url: str
    pid: int
    work_dir: pathlib.Path

    @property
    def log(self) -> pathlib.Path:
        return self.work_dir / "prometheus.log"

    @property
    def targets_file(self) -> pathlib.Path:
        return self.work_dir / "targets.json"

    def set_targets(self, targets: Sequence[ScrapeTarget]) -> None:
        """Replaces what Prometheus scrapes; it notices within seconds."""
        write_targets(self.targets_file, targets)

    def stop(self) -> None:
        """Stops the process group (SIGTERM, then SIGKILL after a grace period) and removes the
        work directory. Safe to call twice. Raises PrometheusUnavailableError naming any process
        that survived."""
        survivors = processes.stop_groups([self.pid], grace_s=_STOP_GRACE_S)
        if survivors:
            raise PrometheusUnavailableError(
                f"Prometheus (process group {self.pid}) left processes {survivors} running"
            )
        _reap_child(self.pid)
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> LocalPrometheus:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _reap_child(pid: int) -> None:
    # Our own exited child stays in the process table as a zombie until it is waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_prometheus(
    *,
    targets: Sequence[ScrapeTarget] = (),
    scrape_interval_s: float = 2.0,
    binary: pathlib.Path | None = None,
    ready_timeout_s: float = 60.0,
    tie_to_parent: bool = True,
) -> LocalPrometheus:
    """Starts Prometheus on a free loopback port, scraping `targets` every `scrape_interval_s`,
    and waits until it answers `/-/ready`. Newly set targets are scraped within seconds.

    `binary` defaults to `ensure_prometheus()`. With `tie_to_parent` the kernel kills Prometheus
    if this process dies without stopping it (right for tests; the kernel ties it to the calling
    thread, so call from one that outlives it); a long-lived cluster passes False and keeps the
    returned record to stop it later. Raises PrometheusUnavailableError
    with the end of its log when it does not become ready.
    """
    executable = binary or ensure_prometheus()
    work_dir = pathlib.Path(tempfile.mkdtemp(prefix="sloserve-prometheus-"))
    targets_file = work_dir / "targets.json"
    write_targets(targets_file, targets)
    config_file = work_dir / "prometheus.yml"
    config_file.write_text(
        yaml.safe_dump(
            scrape_config(targets_file=targets_file, scrape_interval_s=scrape_interval_s),
            sort_keys=False,
        )
    )
    failure = ""
    # Another program may take the free port between our probe and Prometheus binding it.
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        process = processes.spawn(
            argv=[
                str(executable),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={work_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            log_path=work_dir / "prometheus.log",
            cwd=work_dir,
            tie_to_parent=tie_to_parent,
        )
        started = LocalPrometheus(
            url=f"http://127.0.0.1:{port}", pid=process.pid, work_dir=work_dir
        )
        if _wait_ready(started, timeout_s=ready_timeout_s):
            return started
        failure = processes.log_tail(started.log)
        processes.stop_groups([process.pid], grace_s=_STOP_GRACE_S)
        _reap_child(process.pid)
    shutil.rmtree(work_dir, ignore_errors=True)
    raise PrometheusUnavailableError(
        f"Prometheus ({executable}) did not become ready within {ready_timeout_s:.0f} s;"
        f" its log ends with:\n{failure}"
    )


def _wait_ready(prometheus: LocalPrometheus, *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not processes.is_running(prometheus.pid):
                return False
            try:
                if client.get(f"{prometheus.url}/-/ready").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(_POLL_INTERVAL_S)
    return False
