"""Env (values, field and key references, $(VAR) expansion) and Secret/ConfigMap volumes."""

from __future__ import annotations

import textwrap

import pytest

from dev.helpers import apply, python_pod, wait_for_pod
from sloserve.dev import handle

pytestmark = pytest.mark.usefixtures("local_only")

_CHECK = textwrap.dedent(
    """
    import os, sys
    expected = {
        "GREETING": "hello configured",
        "PASSWORD": "s3cret",
        "MY_NAME": "configured",
        "MY_NAMESPACE": sys.argv[1],
        "ADDRESS": "http://" + os.environ["POD_IP"] + ":8000",
    }
    for name, value in expected.items():
        if os.environ.get(name) != value:
            sys.exit(f"env {name}={os.environ.get(name)!r}, expected {value!r}")
    if sys.argv[2] != "configured":
        sys.exit(f"args not expanded: {sys.argv[2]!r}")
    if open("/run/app/config/mode").read() != "fast":
        sys.exit("configMap volume missing")
    if open("/run/app/secret/token").read() != "s3cret":
        sys.exit("secret volume missing")
    """
)


def test_container_sees_its_env_args_and_volumes(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    kube_cluster.kubectl(
        "create", "configmap", "settings", "--from-literal=mode=fast", "-n", namespace
    )
    kube_cluster.kubectl(
        "create", "secret", "generic", "credentials", "--from-literal=token=s3cret", "-n", namespace
    )
    manifest = python_pod(
        "configured",
        namespace,
        args=["-c", _CHECK, "$(MY_NAMESPACE)", "$(MY_NAME)"],
        restart_policy="Never",
        env=[
            {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "MY_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {"name": "GREETING", "value": "hello $(MY_NAME)"},
            {"name": "ADDRESS", "value": "http://$(POD_IP):8000"},
            {
                "name": "PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "credentials", "key": "token"}},
            },
        ],
        volumeMounts=[
            {"name": "config", "mountPath": "/run/app/config"},
            {"name": "secret", "mountPath": "/run/app/secret", "readOnly": True},
        ],
    )
    manifest["spec"]["volumes"] = [
        {"name": "config", "configMap": {"name": "settings"}},
        {"name": "secret", "secret": {"secretName": "credentials"}},
    ]
    apply(kube_cluster, manifest)

    pod = wait_for_pod(
        kube_cluster,
        namespace,
        "configured",
        lambda pod: pod["status"].get("phase") in ("Succeeded", "Failed"),
        what="completion",
    )

    assert pod["status"]["phase"] == "Succeeded", pod["status"]["containerStatuses"]


def test_missing_secret_holds_the_container_with_a_config_error(
    kube_cluster: handle.ClusterHandle, namespace: str
) -> None:
    manifest = python_pod(
        "unconfigured",
        namespace,
        args=["-c", "pass"],
        env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "x"}}}],
    )
    apply(kube_cluster, manifest)

    pod = wait_for_pod(
        kube_cluster,
        namespace,
        "unconfigured",
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

    assert (
        'secret "absent" not found'
        in (pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"])
    )
