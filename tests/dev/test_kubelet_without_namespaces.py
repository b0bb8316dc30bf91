"""Where containers cannot get mount namespaces, the ServiceAccount token still works through
KUBECONFIG, and other volume mounts are refused with a message saying why."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest

from dev.helpers import apply, python_pod, wait_for_pod
from sloserve.dev import handle, session
from sloserve.dev.kubelet import config

pytestmark = pytest.mark.cluster

_LIST_WITH_ANY_CONFIG = textwrap.dedent(
    """
    from kubernetes import client, config
    config.load_config()
    client.CoreV1Api().list_namespaced_pod("default")
    """
)


@pytest.fixture(scope="module")
def cluster_without_namespaces(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[handle.ClusterHandle]:
    options = config.KubeletOptions(nodes=1, mount_namespaces=False)
    state_dir = tmp_path_factory.mktemp("no-namespaces")
    with session.local_cluster(state_dir, kubelet=options) as running:
        running.kubectl(
            "create",
            "rolebinding",
            "default-views",
            "--clusterrole=view",
            "--serviceaccount=default:default",
            "-n",
            "default",
        )
        yield running


def test_service_account_token_reaches_the_client_through_kubeconfig(
    cluster_without_namespaces: handle.ClusterHandle,
) -> None:
    manifest = python_pod(
        "lister", "default", args=["-c", _LIST_WITH_ANY_CONFIG], restart_policy="Never"
    )
    apply(cluster_without_namespaces, manifest)

    pod = wait_for_pod(
        cluster_without_namespaces,
        "default",
        "lister",
        lambda pod: pod["status"].get("phase") in ("Succeeded", "Failed"),
        what="completion",
    )

    assert pod["status"]["phase"] == "Succeeded"


def test_other_volume_mounts_are_refused_naming_the_mount(
    cluster_without_namespaces: handle.ClusterHandle,
) -> None:
    manifest = python_pod(
        "mounter",
        "default",
        args=["-c", "pass"],
        volumeMounts=[{"name": "scratch", "mountPath": "/run/scratch"}],
    )
    manifest["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    apply(cluster_without_namespaces, manifest)

    pod = wait_for_pod(
        cluster_without_namespaces,
        "default",
        "mounter",
        lambda pod: (
            pod["status"]
            .get("containerStatuses", [{}])[0]
            .get("state", {})
            .get("waiting", {})
            .get("reason")
            == "CreateContainerConfigError"
        ),
        what="CreateContainerConfigError",
    )

    message = pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    assert "'/run/scratch'" in message
    assert "mount namespace" in message
