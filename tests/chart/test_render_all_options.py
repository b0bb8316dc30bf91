"""What the chart renders with every optional part on."""

from __future__ import annotations

import pathlib

import pytest

from chart import helm_chart


@pytest.fixture(scope="module")
def rendered(helm: pathlib.Path) -> helm_chart.Rendered:
    return helm_chart.render(
        helm, values=helm_chart.ALL_OPTIONS, api_versions=[helm_chart.SERVICE_MONITOR_API]
    )


def test_autoscaled_gateway_leaves_replicas_to_the_autoscaler(
    rendered: helm_chart.Rendered,
) -> None:
    gateway = rendered.one("Deployment", "-gateway")
    assert "replicas" not in gateway["spec"]
    autoscaler = rendered.one("HorizontalPodAutoscaler", "-gateway")
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": gateway["metadata"]["name"],
    }
    assert (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]) == (2, 6)


def test_service_monitors_scrape_the_gateway_and_the_engines_of_watched_namespaces(
    rendered: helm_chart.Rendered,
) -> None:
    gateway = rendered.one("ServiceMonitor", "-gateway")
    engines = rendered.one("ServiceMonitor", "-engines")
    service = rendered.one("Service", "-gateway")
    assert (
        gateway["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert engines["spec"]["namespaceSelector"] == {"matchNames": ["team-a", "team-b"]}
    assert engines["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "sloserve-engine"
    for monitor in (gateway, engines):
        assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_existing_tenants_secret_is_mounted_and_none_is_created(
    rendered: helm_chart.Rendered,
) -> None:
    assert rendered.all_of("Secret") == []
    pod = rendered.one("Deployment", "-gateway")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["tenants"]["secret"]["secretName"] == "gateway-keys"
    assert (
        "--tenants=/var/run/secrets/sloserve.io/tenants/keys.yaml" in pod["containers"][0]["args"]
    )


def test_namespaced_gateway_reads_only_its_namespace(rendered: helm_chart.Rendered) -> None:
    role = rendered.one("Role", "-gateway")
    binding = rendered.one("RoleBinding", "-gateway")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "team-a"
    cluster_roles = [role["metadata"]["name"] for role in rendered.all_of("ClusterRole")]
    assert not [name for name in cluster_roles if name.endswith("-gateway")]
    assert "--namespace=team-a" in rendered.container("-gateway")["args"]


def test_namespaced_operator_is_bound_in_each_watched_namespace_only(
    rendered: helm_chart.Rendered,
) -> None:
    bindings = [
        binding
        for binding in rendered.all_of("RoleBinding")
        if binding["roleRef"]["kind"] == "ClusterRole"
    ]
    assert sorted(binding["metadata"]["namespace"] for binding in bindings) == ["team-a", "team-b"]
    cluster_bindings = {
        binding["roleRef"]["name"] for binding in rendered.all_of("ClusterRoleBinding")
    }
    assert cluster_bindings == {"demo-sloserve-operator-nodes"}
    env = {name: entry.get("value") for name, entry in rendered.env("-operator").items()}
    assert env["SLOSERVE_OPERATOR__KUBERNETES__NAMESPACES"] == '["team-a","team-b"]'
    assert env["SLOSERVE_OPERATOR__ENGINES__SIM_IMAGE"] == "ghcr.io/sloserve/sloserve:sim"
    assert env["SLOSERVE_OPERATOR__ENGINES__IMAGE_PULL_POLICY"] == "Always"
    assert env["SLOSERVE_OPERATOR__STATUS__REFRESH_INTERVAL_S"] == "2"


def test_digest_pins_the_image(rendered: helm_chart.Rendered) -> None:
    for name, pod in rendered.pod_specs():
        image = pod["containers"][0]["image"]
        assert image == "ghcr.io/sloserve/sloserve@sha256:" + "ab" * 32, name
        assert pod["imagePullSecrets"] == [{"name": "registry"}], name


def test_node_port_service(rendered: helm_chart.Rendered) -> None:
    service = rendered.one("Service", "-gateway")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30080


def test_dashboard_goes_to_the_chosen_namespace(rendered: helm_chart.Rendered) -> None:
    assert rendered.one("ConfigMap", "-dashboard")["metadata"]["namespace"] == "monitoring"


def test_common_labels_reach_every_resource(rendered: helm_chart.Rendered) -> None:
    for document in rendered.documents:
        assert document["metadata"]["labels"]["team"] == "platform", document["metadata"]["name"]


def test_service_monitors_need_the_prometheus_operator_api(helm: pathlib.Path) -> None:
    message = helm_chart.refuse(helm, set_values=["metrics.serviceMonitor.enabled=true"])
    assert "metrics.serviceMonitor.enabled" in message
    assert "monitoring.coreos.com/v1" in message


def test_the_gateway_reads_tokenizers_from_the_model_cache_claim_read_only(
    rendered: helm_chart.Rendered,
) -> None:
    pod = rendered.one("Deployment", "-gateway")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "model-cache"]
    assert volume["persistentVolumeClaim"] == {"claimName": "llama-weights", "readOnly": True}
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "model-cache"]
    assert (mount["mountPath"], mount["readOnly"]) == ("/cache", True)
    env = {variable["name"]: variable.get("value") for variable in container["env"]}
    assert env["SLOSERVE_GATEWAY__SCHEDULING__MODEL_CACHE_DIR"] == "/cache"
