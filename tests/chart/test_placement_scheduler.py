"""With placement on, the chart deploys the sloserve scheduler: kube-scheduler with the
configuration `sloserve placement scheduler-config` writes, the extender beside it, and only the
RBAC they need. With placement off, none of it is rendered."""

from __future__ import annotations

import json
import pathlib
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from chart import helm_chart
from sloserve.cli.placement import placement

Grant = tuple[str, str, str]

_ON: dict[str, Any] = {"placement": {"enabled": True}}
_CUSTOM: dict[str, Any] = {
    "placement": {
        "enabled": True,
        "schedulerName": "gpu-aware",
        "scheduler": {"extenderWeight": 9, "replicas": 2},
        "extender": {
            "port": 9100,
            "prometheusUrl": "http://prometheus.monitoring:9090",
            "defaultMaxSlowdown": 1.5,
        },
    }
}


def _grants(rules: list[dict[str, Any]]) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _cli_configuration(*args: str) -> Any:
    result = CliRunner().invoke(placement, ["scheduler-config", *args])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.output)


@pytest.fixture(scope="module")
def rendered(helm: pathlib.Path) -> helm_chart.Rendered:
    return helm_chart.render(helm, values=_ON)


def test_disabled_placement_renders_no_scheduler(helm: pathlib.Path) -> None:
    rendered = helm_chart.render(helm)
    names = [document["metadata"]["name"] for document in rendered.documents]
    assert not [name for name in names if "scheduler" in name]
    assert [name for _, spec in rendered.pod_specs() for name in [spec.get("schedulerName")]] == [
        None,
        None,
    ]


def test_disabled_placement_makes_the_operator_fall_back_to_node_affinity(
    helm: pathlib.Path,
) -> None:
    env = helm_chart.render(helm).env("-operator")
    assert env["SLOSERVE_OPERATOR__PLACEMENT__ENABLED"]["value"] == "true"
    assert env["SLOSERVE_OPERATOR__PLACEMENT__SCHEDULER_DEPLOYED"]["value"] == "false"


def test_enabled_placement_tells_the_operator_the_scheduler_runs(
    rendered: helm_chart.Rendered,
) -> None:
    env = rendered.env("-operator")
    assert env["SLOSERVE_OPERATOR__PLACEMENT__ENABLED"]["value"] == "true"
    assert env["SLOSERVE_OPERATOR__PLACEMENT__SCHEDULER_DEPLOYED"]["value"] == "true"
    assert env["SLOSERVE_OPERATOR__ENGINES__INTERFERENCE_AWARE_SCHEDULER"]["value"] == (
        "sloserve-scheduler"
    )


@pytest.mark.parametrize(
    ("values", "namespace", "cli_args"),
    [
        (_ON, "sloserve-system", ["--extender-url", "http://127.0.0.1:8788"]),
        (
            _CUSTOM,
            "platform",
            [
                "--extender-url",
                "http://127.0.0.1:9100",
                "--scheduler-name",
                "gpu-aware",
                "--weight",
                "9",
            ],
        ),
    ],
    ids=["defaults", "custom"],
)
def test_scheduler_configuration_equals_the_cli_output(
    helm: pathlib.Path, values: dict[str, Any], namespace: str, cli_args: list[str]
) -> None:
    rendered = helm_chart.render(helm, values=values, namespace=namespace)
    in_chart = yaml.safe_load(rendered.one("ConfigMap", "-scheduler")["data"]["config.yaml"])
    assert in_chart == _cli_configuration(*cli_args, "--lease-namespace", namespace)


def test_scheduler_pod_runs_kube_scheduler_with_the_configmap_and_the_extender_sidecar(
    helm: pathlib.Path,
) -> None:
    rendered = helm_chart.render(helm, values=_CUSTOM)
    spec = rendered.one("Deployment", "-scheduler")["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    scheduler, extender = pod["containers"]
    assert scheduler["image"].startswith("registry.k8s.io/kube-scheduler:v1.34.")
    assert scheduler["command"][:2] == [
        "kube-scheduler",
        "--config=/etc/sloserve-scheduler/config.yaml",
    ]
    assert scheduler["volumeMounts"][0]["mountPath"] == "/etc/sloserve-scheduler"
    configmap = rendered.one("ConfigMap", "-scheduler")["metadata"]["name"]
    assert pod["volumes"] == [{"name": "config", "configMap": {"name": configmap}}]
    assert extender["args"] == [
        "placement",
        "extender",
        "--host=127.0.0.1",
        "--port=9100",
        "--prometheus-url=http://prometheus.monitoring:9090",
        "--default-max-slowdown=1.5",
    ]
    assert rendered.env("-operator")["SLOSERVE_OPERATOR__ENGINES__INTERFERENCE_AWARE_SCHEDULER"][
        "value"
    ] == ("gpu-aware")


def test_scheduler_pod_is_hardened_like_the_rest_of_the_chart(
    rendered: helm_chart.Rendered,
) -> None:
    pod = rendered.one("Deployment", "-scheduler")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}


def test_scheduler_rbac_is_exactly_the_built_in_roles_its_lease_and_pod_listing(
    rendered: helm_chart.Rendered,
) -> None:
    account = rendered.one("ServiceAccount", "-scheduler")["metadata"]
    subject = {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    bindings = [
        binding
        for binding in rendered.all_of("ClusterRoleBinding") + rendered.all_of("RoleBinding")
        if subject in binding["subjects"]
    ]
    bound = {
        (
            binding["kind"],
            binding["metadata"].get("namespace"),
            binding["roleRef"]["kind"],
            binding["roleRef"]["name"],
        )
        for binding in bindings
    }
    extender_role = rendered.one("ClusterRole", "-scheduler-extender")
    lease_role = rendered.one("Role", "-scheduler-leader-election")
    assert bound == {
        ("ClusterRoleBinding", None, "ClusterRole", "system:kube-scheduler"),
        ("ClusterRoleBinding", None, "ClusterRole", "system:volume-scheduler"),
        ("RoleBinding", "kube-system", "Role", "extension-apiserver-authentication-reader"),
        ("RoleBinding", "sloserve-system", "Role", lease_role["metadata"]["name"]),
        ("ClusterRoleBinding", None, "ClusterRole", extender_role["metadata"]["name"]),
    }
    assert _grants(extender_role["rules"]) == {("", "pods", "list")}
    named = [rule for rule in lease_role["rules"] if rule.get("resourceNames")]
    unnamed = [rule for rule in lease_role["rules"] if not rule.get("resourceNames")]
    assert _grants(unnamed) == {("coordination.k8s.io", "leases", "create")}
    assert _grants(named) == {
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "update"),
    }
    assert [name for rule in named for name in rule["resourceNames"]] == ["sloserve-scheduler"]


def test_enabled_placement_meets_the_kubernetes_schemas(helm: pathlib.Path) -> None:
    rendered = helm_chart.render(helm, values=_CUSTOM)
    placement_documents = [
        document for document in rendered.documents if "scheduler" in document["metadata"]["name"]
    ]
    for document in rendered.documents:
        kubernetes_validate.validate(document, helm_chart.KUBE_VERSION, strict=True)
    assert len(placement_documents) == 10


def test_lint_is_clean_with_placement_enabled(helm: pathlib.Path, tmp_path: pathlib.Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps(_CUSTOM))
    linted = subprocess.run(
        [
            str(helm),
            "lint",
            "--strict",
            f"--kube-version={helm_chart.KUBE_VERSION}",
            str(helm_chart.CHART),
            f"--values={values}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "[WARNING]" not in linted.stdout


def test_out_of_range_extender_values_are_refused(helm: pathlib.Path) -> None:
    message = helm_chart.refuse(
        helm, values={"placement": {"enabled": True, "extender": {"defaultMaxSlowdown": 0.5}}}
    )
    assert "/placement/extender/defaultMaxSlowdown" in message
