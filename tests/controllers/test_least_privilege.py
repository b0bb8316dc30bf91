"""The operator works under exactly the permissions sloserve.operator.permissions lists."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from operator_harness import (
    ABSENT_GPU,
    Kube,
    engine_with,
    eventually,
    sample,
    start_operator,
    unique,
)

from sloserve.api import crd_files, finetunejob
from sloserve.builders import finetune_worker
from sloserve.operator import permissions
from sloserve_dev import handle

ACCOUNT = "sloserve-operator"


def _apply(cluster: handle.ClusterHandle, *objects: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objects))


@pytest.fixture
def cluster_role(kube_cluster: handle.ClusterHandle, module_namespace: str) -> Iterator[str]:
    """A ClusterRole with the node rules, bound to the operator's ServiceAccount."""
    name = unique("sloserve-operator-nodes")
    subject = {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": module_namespace}
    _apply(
        kube_cluster,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": permissions.NODE_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [subject],
        },
    )
    yield name
    kube_cluster.kubectl("delete", "clusterrolebinding,clusterrole", name, check=False)


def _service_account_kubeconfig(
    cluster: handle.ClusterHandle, namespace: str, path: pathlib.Path
) -> pathlib.Path:
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    token = cluster.kubectl("create", "token", ACCOUNT, "-n", namespace, "--duration=1h").stdout
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": admin["clusters"][0]["cluster"]}],
                "users": [{"name": ACCOUNT, "user": {"token": token.strip()}}],
                "contexts": [{"name": ACCOUNT, "context": {"cluster": "local", "user": ACCOUNT}}],
                "current-context": ACCOUNT,
            }
        )
    )
    return path


def test_operator_reconciles_with_only_the_listed_permissions(
    kube_cluster: handle.ClusterHandle,
    module_namespace: str,
    cluster_role: str,
    tmp_path: pathlib.Path,
) -> None:
    role = unique("sloserve-operator")
    _apply(
        kube_cluster,
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": ACCOUNT, "namespace": module_namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": role, "namespace": module_namespace},
            "rules": permissions.WORKLOAD_RULES + permissions.LEASE_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": role, "namespace": module_namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [
                {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": module_namespace}
            ],
        },
    )
    kubeconfig = _service_account_kubeconfig(kube_cluster, module_namespace, tmp_path / "sa")
    restricted = handle.ClusterHandle(
        kubeconfig=kubeconfig, bin_dir=kube_cluster.bin_dir, server=kube_cluster.server
    )
    operator = start_operator(
        restricted,
        namespaces=[module_namespace],
        lease_name=unique("lease"),
        log_path=tmp_path / "operator.log",
    )
    try:
        kube = Kube(kube_cluster, module_namespace)
        name = unique("rbac")
        kube.apply(engine_with(sample(name, replicas=1), gpuProduct=ABSENT_GPU))
        eventually(lambda: kube.reconciled(name), what="the reconcile", diagnose=operator.log_tail)
        eventually(
            lambda: any(e["reason"] == "NoNodeWithGPUProduct" for e in kube.events(name)),
            what="the operator's Events",
            diagnose=operator.log_tail,
        )
        assert kube.get_json("poddisruptionbudget", name) is not None
        log = operator.log()
        assert "Forbidden" not in log
        assert " 403" not in log
    finally:
        operator.stop()


def test_the_finetune_controller_works_with_only_the_listed_permissions(
    kube_cluster: handle.ClusterHandle,
    module_namespace: str,
    cluster_role: str,
    tmp_path: pathlib.Path,
) -> None:
    kube_cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=sloserve-tests",
        "-f", "-", input=crd_files.render_yaml(finetunejob.finetunejob_crd()),
    )  # fmt: skip
    kube_cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", f"crd/{finetunejob.CRD_NAME}"
    )
    role = unique("sloserve-finetune")
    _apply(
        kube_cluster,
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": ACCOUNT, "namespace": module_namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": role, "namespace": module_namespace},
            "rules": permissions.WORKLOAD_RULES
            + permissions.FINETUNE_RULES
            + permissions.LEASE_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": role, "namespace": module_namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [
                {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": module_namespace}
            ],
        },
    )
    kubeconfig = _service_account_kubeconfig(kube_cluster, module_namespace, tmp_path / "sa")
    restricted = handle.ClusterHandle(
        kubeconfig=kubeconfig, bin_dir=kube_cluster.bin_dir, server=kube_cluster.server
    )
    operator = start_operator(
        restricted,
        namespaces=[module_namespace],
        lease_name=unique("lease"),
        log_path=tmp_path / "operator.log",
        env={
            "SLOSERVE_OPERATOR__FINETUNE__ENABLED": "true",
            "SLOSERVE_OPERATOR__FINETUNE__CONTROL_INTERVAL_S": "1",
            "SLOSERVE_OPERATOR__FINETUNE__HELD_RETRY_S": "1",
            # no scheduler here: the engines get no node, so the predictor has none to judge
            "SLOSERVE_OPERATOR__PLACEMENT__ENABLED": "false",
        },
    )
    try:
        kube = Kube(kube_cluster, module_namespace)
        service = unique("ftsvc")
        kube.apply(sample(service, replicas=1))
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "tickets"},
                "data": {"train.jsonl": '{"text": "hello"}\n'},
            },
            {
                "apiVersion": "sloserve.io/v1alpha1",
                "kind": "FineTuneJob",
                "metadata": {"name": "rbac-adapter"},
                "spec": {
                    "modelService": {"name": service},
                    "adapter": {"rank": 8},
                    "dataset": {"configMap": {"name": "tickets", "key": "train.jsonl"}},
                    "training": {"steps": 10},
                },
            },
        )
        worker = finetune_worker.worker_pod_name("rbac-adapter")
        eventually(
            lambda: kube.get_json("pod", worker) is not None,
            what="the worker pod",
            diagnose=operator.log_tail,
        )
        eventually(
            lambda: (
                ((kube.get_json("ftj", "rbac-adapter") or {}).get("status") or {}).get("throttle")
                is not None
            ),
            what="the throttle in the job's status",
            diagnose=operator.log_tail,
        )
        log = operator.log()
        assert "Forbidden" not in log
        assert " 403" not in log
    finally:
        operator.stop()
