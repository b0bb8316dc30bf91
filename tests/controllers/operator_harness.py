"""Running the real operator (`python -m sloserve operator`) against the test cluster, and
reading what it made."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import pytest
import yaml
from kubernetes import client, config

from sloserve_dev import handle

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = REPO / "config" / "samples" / "modelservice-sim.yaml"
GROUP, VERSION, PLURAL = "sloserve.io", "v1alpha1", "modelservices"
#: A GPU product the test clusters' nodes do not have: engines asking for it stay Pending, so
#: that tests of many ModelServices start no engine processes.
ABSENT_GPU = "NVIDIA-NOT-IN-THIS-CLUSTER"

# Short enough that tests need not wait long; the renew deadline stays generous, since a leader
# that misses it on a busy machine exits, as it must.
FAST_ENV = {
    "SLOSERVE_OPERATOR__STATUS__REFRESH_INTERVAL_S": "1",
    "SLOSERVE_OPERATOR__LEADER_ELECTION__LEASE_DURATION_S": "10",
    "SLOSERVE_OPERATOR__LEADER_ELECTION__RENEW_DEADLINE_S": "7",
    "SLOSERVE_OPERATOR__LEADER_ELECTION__RETRY_PERIOD_S": "1",
    "SLOSERVE_OPERATOR__RETRIES__MAX_BACKOFF_S": "5",
    "SLOSERVE_OPERATOR__ENGINES__DRAIN_SECONDS": "0",
    "SLOSERVE_OPERATOR__ENGINES__SHUTDOWN_GRACE_S": "5",
}


def eventually(
    condition: Callable[[], bool],
    *,
    what: str,
    timeout_s: float = 60.0,
    interval_s: float = 0.25,
    diagnose: Callable[[], str] | None = None,
) -> None:
    """Polls until `condition` holds, failing the test naming `what` after `timeout_s` (with
    what `diagnose` tells, if given); for waiting on real controllers, whose timing is their
    own."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            detail = f"\n{diagnose()}" if diagnose is not None else ""
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}{detail}")
        time.sleep(interval_s)


@dataclasses.dataclass
class OperatorProcess:
    """One operator process; its output goes to `log_path`."""

    process: subprocess.Popen[bytes]
    log_path: pathlib.Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "operator log, last lines:\n" + "\n".join(self.log().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no chance to release the Lease or finish anything."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, then the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def start_operator(
    cluster: handle.ClusterHandle,
    *,
    namespaces: Sequence[str],
    lease_name: str,
    log_path: pathlib.Path,
    env: Mapping[str, str] | None = None,
) -> OperatorProcess:
    """Starts `python -m sloserve operator` serving `namespaces`, electing its leader through
    Lease `lease_name` in the first of them."""
    argv = [sys.executable, "-m", "sloserve", "operator", "--kubeconfig", str(cluster.kubeconfig)]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    argv += ["--lease-namespace", namespaces[0]]
    environment = {
        **os.environ,
        **FAST_ENV,
        "SLOSERVE_OPERATOR__LEADER_ELECTION__LEASE_NAME": lease_name,
        **(env or {}),
    }
    log = log_path.open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=environment)
    log.close()
    return OperatorProcess(process=process, log_path=log_path)


def api_client(cluster: handle.ClusterHandle) -> client.ApiClient:
    """A Kubernetes client logged in as the cluster's administrator."""
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig), client_configuration=configuration
    )
    return client.ApiClient(configuration)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def sample(name: str, **spec: Any) -> dict[str, Any]:
    """The sim sample ModelService named `name`, with `spec` fields replaced."""
    manifest: dict[str, Any] = copy.deepcopy(yaml.safe_load(SAMPLE.read_text()))
    manifest["metadata"] = {"name": name}
    manifest["spec"].update(spec)
    return manifest


def engine_with(manifest: dict[str, Any], **engine: Any) -> dict[str, Any]:
    """`manifest` with `engine` fields replaced."""
    manifest["spec"]["engine"].update(engine)
    return manifest


class Kube:
    """Reads and writes of one namespace through the Python client: fast enough to poll."""

    def __init__(self, cluster: handle.ClusterHandle, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        api = api_client(cluster)
        self.custom = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.policy = client.PolicyV1Api(api)

    def apply(self, *manifests: dict[str, Any]) -> None:
        self.cluster.kubectl(
            "apply",
            "-n",
            self.namespace,
            "-f",
            "-",
            input="\n---\n".join(map(json.dumps, manifests)),
        )

    def modelservice(self, name: str) -> dict[str, Any]:
        found = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )
        return cast(dict[str, Any], found)

    def modelservices(self) -> list[dict[str, Any]]:
        listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        return cast(list[dict[str, Any]], cast(dict[str, Any], listed)["items"])

    def condition(self, name: str, kind: str) -> dict[str, Any] | None:
        status = self.modelservice(name).get("status") or {}
        return next((c for c in status.get("conditions", []) if c["type"] == kind), None)

    def reconciled(self, name: str) -> bool:
        body = self.modelservice(name)
        return bool(
            (body.get("status") or {}).get("observedGeneration") == body["metadata"]["generation"]
        )

    def get_json(self, kind: str, name: str) -> dict[str, Any] | None:
        found = self.cluster.kubectl(
            "get", kind, name, "-n", self.namespace, "-o", "json", "--ignore-not-found"
        ).stdout
        return json.loads(found) if found.strip() else None

    def list_json(self, kind: str, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind, "-n", self.namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        items: list[dict[str, Any]] = json.loads(self.cluster.kubectl(*args).stdout)["items"]
        return items

    def events(self, name: str) -> list[dict[str, Any]]:
        return [
            event
            for event in self.list_json("events")
            if event["involvedObject"].get("kind") == "ModelService"
            and event["involvedObject"].get("name") == name
        ]
