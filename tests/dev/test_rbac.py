"""RBAC is enforced: a ServiceAccount has only the rights bound to it."""

from __future__ import annotations

from dev.helpers import bearer_client
from sloserve_dev import handle


def test_service_account_may_list_secrets_only_after_a_role_binding(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    kube_cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    token = kube_cluster.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    secrets_url = f"/api/v1/namespaces/{namespace}/secrets"

    with bearer_client(kube_cluster, token) as api:
        before = api.get(secrets_url)
        kube_cluster.kubectl(
            "create", "role", "secret-reader", "--verb=list", "--resource=secrets", "-n", namespace
        )
        kube_cluster.kubectl(
            "create",
            "rolebinding",
            "reader-reads-secrets",
            "--role=secret-reader",
            f"--serviceaccount={namespace}:reader",
            "-n",
            namespace,
        )
        after = api.get(secrets_url)
        other_namespace = api.get("/api/v1/namespaces/default/secrets")

    assert before.status_code == 403
    assert f"system:serviceaccount:{namespace}:reader" in before.json()["message"]
    assert after.status_code == 200
    assert other_namespace.status_code == 403
