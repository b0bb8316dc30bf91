"""Helpers for tests that talk to a cluster's API server."""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml

from sloserve.dev import handle


def bearer_client(cluster: handle.ClusterHandle, token: str) -> httpx.Client:
    """An HTTP client that speaks to the cluster's API server as the owner of `token`."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    cluster_entry = config["clusters"][0]["cluster"]
    if "certificate-authority-data" in cluster_entry:
        ca = base64.b64decode(cluster_entry["certificate-authority-data"]).decode()
        context = ssl.create_default_context(cadata=ca)
    else:
        context = ssl.create_default_context(cafile=cluster_entry["certificate-authority"])
    return httpx.Client(
        base_url=cluster.server,
        verify=context,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )


def eventually(
    condition: Callable[[], bool], *, what: str, timeout_s: float = 60.0, interval_s: float = 0.5
) -> None:
    """Polls until `condition` holds; fails the test naming `what` after `timeout_s`. For
    waiting on real controllers, whose timing is theirs, not the test's."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


SLOSERVE_IMAGE = "sloserve:dev"


def apply(cluster: handle.ClusterHandle, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def get_object(
    cluster: handle.ClusterHandle, kind: str, name: str, namespace: str
) -> dict[str, Any] | None:
    """The object as JSON, or None when it does not exist."""
    found = cluster.kubectl(
        "get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found"
    ).stdout
    return json.loads(found) if found.strip() else None


def wait_for_pod(
    cluster: handle.ClusterHandle,
    namespace: str,
    name: str,
    condition: Callable[[dict[str, Any]], bool],
    *,
    what: str,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Polls the pod until `condition` holds for it; returns it. Fails the test with the last
    status seen otherwise."""
    seen: dict[str, Any] = {}

    def check() -> bool:
        nonlocal seen
        seen = get_object(cluster, "pod", name, namespace) or {}
        return bool(seen) and condition(seen)

    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"pod {namespace}/{name}: {what} not seen; status: {seen.get('status')}")
        time.sleep(0.5)
    return seen


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def python_pod(
    name: str,
    namespace: str,
    *,
    args: list[str],
    restart_policy: str = "Always",
    **container: Any,
) -> dict[str, Any]:
    """A pod running `python <args>` from the sloserve image."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 5,
            "containers": [
                {"name": "main", "image": SLOSERVE_IMAGE, "command": ["python"], "args": args}
                | container
            ],
        },
    }
