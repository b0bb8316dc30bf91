"""A pod's ServiceAccount token works for in-cluster clients, and RBAC limits it."""

from __future__ import annotations

import json
import textwrap

import pytest

from dev.helpers import apply, python_pod, wait_for_pod
from sloserve.dev import handle

pytestmark = pytest.mark.usefixtures("local_only")

# Exits 0 only if the pod reads its own namespace from the standard path, may list pods there,
# and is refused secrets; each other outcome has its own exit code.
_IN_CLUSTER_CHECK = textwrap.dedent(
    """
    import sys
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    namespace = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
    config.load_incluster_config()
    core = client.CoreV1Api()
    names = [pod.metadata.name for pod in core.list_namespaced_pod(namespace).items]
    if "checker" not in names:
        sys.exit(10)
    try:
        core.list_namespaced_secret(namespace)
    except ApiException as error:
        sys.exit(0 if error.status == 403 else 11)
    sys.exit(12)
    """
)


def test_pod_lists_pods_with_its_token_and_is_forbidden_secrets(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    kube_cluster.kubectl("create", "serviceaccount", "lister", "-n", namespace)
    kube_cluster.kubectl(
        "create", "role", "pod-lister", "--verb=list", "--resource=pods", "-n", namespace
    )
    kube_cluster.kubectl(
        "create",
        "rolebinding",
        "lister-lists-pods",
        "--role=pod-lister",
        f"--serviceaccount={namespace}:lister",
        "-n",
        namespace,
    )
    manifest = python_pod(
        "checker", namespace, args=["-c", _IN_CLUSTER_CHECK], restart_policy="Never"
    )
    manifest["spec"]["serviceAccountName"] = "lister"
    apply(kube_cluster, manifest)

    pod = wait_for_pod(
        kube_cluster,
        namespace,
        "checker",
        lambda pod: pod["status"].get("phase") in ("Succeeded", "Failed"),
        what="completion",
    )

    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0, json.dumps(terminated)
    assert pod["status"]["phase"] == "Succeeded"
