"""The controller-manager's garbage collector and ServiceAccount controllers work."""

from __future__ import annotations

import json

from dev.helpers import bearer_client, eventually
from sloserve_dev import handle


def test_garbage_collector_deletes_a_dependent_whose_owner_was_deleted(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    kube_cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    owner_uid = kube_cluster.kubectl(
        "get", "configmap", "owner", "-n", namespace, "-o", "jsonpath={.metadata.uid}"
    ).stdout
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "namespace": namespace,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
            ],
        },
    }
    kube_cluster.kubectl("create", "-f", "-", input=json.dumps(dependent))

    kube_cluster.kubectl("delete", "configmap", "owner", "-n", namespace, "--wait=false")

    def dependent_gone() -> bool:
        found = kube_cluster.kubectl(
            "get", "configmap", "dependent", "-n", namespace, "--ignore-not-found", "-o", "name"
        )
        return found.stdout.strip() == ""

    eventually(dependent_gone, what="the garbage collector to delete the dependent ConfigMap")


def test_new_namespace_gets_a_default_service_account_whose_token_authenticates(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    def default_account_exists() -> bool:
        found = kube_cluster.kubectl(
            "get", "serviceaccount", "default", "-n", namespace, "--ignore-not-found", "-o", "name"
        )
        return found.stdout.strip() == "serviceaccount/default"

    eventually(default_account_exists, what=f"ServiceAccount default in {namespace}")
    token = kube_cluster.kubectl("create", "token", "default", "-n", namespace).stdout.strip()

    with bearer_client(kube_cluster, token) as api:
        review = api.post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )

    assert review.status_code == 201
    assert review.json()["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{namespace}:default"
    )
