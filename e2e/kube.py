"""kubectl helpers of the suite: objects as JSON, and acting as a ServiceAccount."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import yaml

from sloserve_dev import handle

Json = dict[str, Any]


def get(cluster: handle.ClusterHandle, *args: str) -> Json:
    """`kubectl get ARGS -o json`, parsed."""
    result: Json = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)
    return result


def exists(cluster: handle.ClusterHandle, kind: str, name: str, namespace: str) -> bool:
    found = cluster.kubectl("get", kind, name, "-n", namespace, "--ignore-not-found", "-o", "name")
    return bool(found.stdout.strip())


def can_i(cluster: handle.ClusterHandle, user: str, *args: str) -> bool:
    """`kubectl auth can-i ARGS --as=USER`: whether the API server would allow it."""
    answer = cluster.kubectl("auth", "can-i", *args, f"--as={user}", check=False)
    return answer.stdout.strip() == "yes"


def service_account_kubeconfig(
    cluster: handle.ClusterHandle,
    *,
    namespace: str,
    service_account: str,
    directory: pathlib.Path,
) -> pathlib.Path:
    """A kubeconfig that authenticates with a fresh token of the ServiceAccount and nothing
    else (no client certificate that would authenticate as the administrator)."""
    token = cluster.kubectl("create", "token", service_account, "-n", namespace).stdout.strip()
    current = yaml.safe_load(cluster.kubectl("config", "view", "--minify", "--raw").stdout)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": current["clusters"][0]["cluster"]}],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [
            {
                "name": service_account,
                "context": {"cluster": "cluster", "user": service_account, "namespace": namespace},
            }
        ],
        "current-context": service_account,
    }
    path = directory / f"{service_account}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path
