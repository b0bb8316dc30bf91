"""What the chart renders with its default values."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from chart import helm_chart


@pytest.fixture(scope="module")
def rendered(helm: pathlib.Path) -> helm_chart.Rendered:
    return helm_chart.render(helm)


def _app_version() -> str:
    chart = yaml.safe_load((helm_chart.CHART / "Chart.yaml").read_text())
    return str(chart["appVersion"])


def test_defaults_render_one_of_each_part(rendered: helm_chart.Rendered) -> None:
    assert rendered.kinds() == sorted(
        [
            *["ClusterRole"] * 3,
            *["ClusterRoleBinding"] * 3,
            "ConfigMap",
            "Deployment",
            "Deployment",
            "FlowSchema",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Secret",
            "Service",  # the gateway
            "Service",  # the gateway's pods, headless, for the operator's direct scrapes
            "ServiceAccount",
            "ServiceAccount",
        ]
    )


def test_every_resource_carries_the_release_labels(rendered: helm_chart.Rendered) -> None:
    for document in rendered.documents:
        labels = document["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "sloserve", document["metadata"]["name"]
        assert labels["app.kubernetes.io/instance"] == "demo"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"].startswith("sloserve-")


def test_images_default_to_the_app_version(rendered: helm_chart.Rendered) -> None:
    expected = f"ghcr.io/sloserve/sloserve:{_app_version()}"
    for name, pod in rendered.pod_specs():
        assert [container["image"] for container in pod["containers"]] == [expected], name
    sim_image = rendered.env("-operator")["SLOSERVE_OPERATOR__ENGINES__SIM_IMAGE"]
    assert sim_image["value"] == expected


def test_pods_run_locked_down(rendered: helm_chart.Rendered) -> None:
    for name, pod in rendered.pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert container["resources"]["requests"], name


def test_operator_has_one_active_replica(rendered: helm_chart.Rendered) -> None:
    operator = rendered.one("Deployment", "-operator")
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    env = rendered.env("-operator")
    assert env["SLOSERVE_OPERATOR__LEADER_ELECTION__ENABLED"]["value"] == "true"
    assert env["SLOSERVE_OPERATOR__LEADER_ELECTION__IDENTITY"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.name"}
    }
    assert env["SLOSERVE_OPERATOR__KUBERNETES__NAMESPACES"]["value"] == "[]"


def test_gateway_discovers_from_kubernetes_and_mounts_the_tenants_secret(
    rendered: helm_chart.Rendered,
) -> None:
    gateway = rendered.one("Deployment", "-gateway")
    pod = gateway["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:2] == ["gateway", "--kubernetes"]
    assert "--tenants=/var/run/secrets/sloserve.io/tenants/tenants.yaml" in container["args"]
    assert not any(arg.startswith("--namespace") for arg in container["args"])
    secret = rendered.one("Secret", "-tenants")
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["tenants"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert yaml.safe_load(secret["stringData"]["tenants.yaml"]) == {"tenants": []}
    assert gateway["spec"]["replicas"] == 2
    assert pod["terminationGracePeriodSeconds"] == 35


def test_gateway_service_selects_only_gateway_pods(rendered: helm_chart.Rendered) -> None:
    service = rendered.one("Service", "-gateway")
    gateway = rendered.one("Deployment", "-gateway")
    pod_labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "gateway"
    operator_labels = rendered.one("Deployment", "-operator")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert not service["spec"]["selector"].items() <= operator_labels.items()


def test_gateway_pods_are_annotated_for_prometheus(rendered: helm_chart.Rendered) -> None:
    annotations = rendered.one("Deployment", "-gateway")["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
    }


def test_optional_parts_are_off_by_default(rendered: helm_chart.Rendered) -> None:
    assert rendered.all_of("HorizontalPodAutoscaler") == []
    assert rendered.all_of("ServiceMonitor") == []


def test_the_dashboard_configmap_holds_the_dashboard_file(rendered: helm_chart.Rendered) -> None:
    dashboard = rendered.one("ConfigMap", "-dashboard")
    shipped = (helm_chart.CHART / "files" / "dashboards" / "sloserve-slo.json").read_text()
    assert dashboard["data"]["sloserve-slo.json"] == shipped.rstrip("\n")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_listening_on_the_pod_ip_reaches_every_component(helm: pathlib.Path) -> None:
    rendered = helm_chart.render(helm, set_values=["listenAddress=$(POD_IP)"])
    assert "--host=$(POD_IP)" in rendered.container("-gateway")["args"]
    operator_env = rendered.env("-operator")
    assert operator_env["SLOSERVE_OPERATOR__HEALTH__HOST"]["value"] == "$(POD_IP)"
    # Escaped, so that each engine pod expands it to its own IP rather than the operator's.
    assert operator_env["SLOSERVE_OPERATOR__ENGINES__LISTEN_HOST"]["value"] == "$$(POD_IP)"
    for suffix in ("-gateway", "-operator"):
        # Kubernetes expands $(POD_IP) only from variables defined before the reference.
        first = rendered.container(suffix)["env"][0]
        assert first == {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def test_the_operators_lease_requests_get_the_leader_election_priority_level(
    rendered: helm_chart.Rendered,
) -> None:
    schema = rendered.one("FlowSchema")
    assert schema["spec"]["priorityLevelConfiguration"] == {"name": "leader-election"}
    (rule,) = schema["spec"]["rules"]
    operator = rendered.one("Deployment", "-operator")
    account = operator["spec"]["template"]["spec"]["serviceAccountName"]
    assert rule["subjects"] == [
        {
            "kind": "ServiceAccount",
            "serviceAccount": {"name": account, "namespace": operator["metadata"]["namespace"]},
        }
    ]
    assert rule["resourceRules"][0]["resources"] == ["leases"]
    assert rule["resourceRules"][0]["namespaces"] == [operator["metadata"]["namespace"]]


def test_the_lease_flow_schema_can_be_left_out(helm: pathlib.Path) -> None:
    rendered = helm_chart.render(helm, values={"operator": {"leaseFlowSchema": {"enabled": False}}})
    assert "FlowSchema" not in rendered.kinds()
