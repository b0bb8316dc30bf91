"""The chart's endpoint picker (`epp.enabled`, off by default) and the operator's InferencePools
(`inferencePool.create`): what they render, the least they may do, and Kubernetes' own schemas."""

from __future__ import annotations

import pathlib
from typing import Any

import kubernetes_validate
import pytest

from chart import helm_chart

NAMESPACE = "inference"
EPP: dict[str, Any] = {
    "gateway": {
        "enabled": False,
        "tenants": {"config": {"tenants": [{"name": "t", "keys": ["k"]}]}},
    },
    "epp": {"enabled": True, "pools": ["llama"], "trustFairnessId": True},
    "inferencePool": {"create": True, "failureMode": "FailOpen"},
}


def _grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.fixture(scope="module")
def rendered(helm: pathlib.Path) -> helm_chart.Rendered:
    return helm_chart.render(helm, values=EPP, namespace=NAMESPACE)


def test_by_default_there_is_no_picker_and_no_pool(helm: pathlib.Path) -> None:
    rendered = helm_chart.render(helm)
    names = [document["metadata"]["name"] for document in rendered.documents]
    assert not [name for name in names if name.endswith("-epp")]
    assert not [name for name in rendered.env("-operator") if "INFERENCE_POOLS" in name]
    operator_grants = _grants(rendered.one("ClusterRole", "-operator")["rules"])
    assert not [grant for grant in operator_grants if grant[1] == "inferencepools"]


def test_the_picker_serves_its_own_namespace_over_tls(rendered: helm_chart.Rendered) -> None:
    container = rendered.container("-epp")
    args = container["args"]
    assert args[:2] == ["epp", "--kubernetes"]
    assert f"--namespace={NAMESPACE}" in args
    assert "--port=9002" in args
    assert "--metrics-port=9090" in args
    assert "--pool=llama" in args
    assert "--trust-fairness-id" in args
    assert "--insecure" not in args
    assert "--tenants=/var/run/secrets/sloserve.io/tenants/tenants.yaml" in args
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"grpc-ext-proc": 9002, "http-metrics": 9090}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_picker_reads_the_gateways_tenants_even_without_the_gateway(
    rendered: helm_chart.Rendered,
) -> None:
    secret = rendered.one("Secret", "-tenants")
    pod = rendered.one("Deployment", "-epp")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["tenants"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert [
        d for d in rendered.all_of("Deployment") if d["metadata"]["name"].endswith("-gateway")
    ] == []


def test_the_picker_may_only_read_modelservices_pools_and_pods_of_its_namespace(
    rendered: helm_chart.Rendered,
) -> None:
    role = rendered.one("Role", "-epp")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert _grants(role["rules"]) == {
        ("sloserve.io", "modelservices", "list"),
        ("sloserve.io", "modelservices", "watch"),
        ("inference.networking.k8s.io", "inferencepools", "list"),
        ("inference.networking.k8s.io", "inferencepools", "watch"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
    }
    binding = rendered.one("RoleBinding", "-epp")
    (subject,) = binding["subjects"]
    account = rendered.one("ServiceAccount", "-epp")
    assert (subject["name"], subject["namespace"]) == (account["metadata"]["name"], NAMESPACE)
    assert not [d for d in rendered.all_of("ClusterRole") if d["metadata"]["name"].endswith("-epp")]


def test_the_operators_pools_name_the_pickers_service_and_port(
    rendered: helm_chart.Rendered,
) -> None:
    service = rendered.one("Service", "-epp")
    ports = {port["name"]: port["port"] for port in service["spec"]["ports"]}
    assert ports == {"grpc-ext-proc": 9002, "http-metrics": 9090}
    env = rendered.env("-operator")
    assert env["SLOSERVE_OPERATOR__INFERENCE_POOLS__ENABLED"]["value"] == "true"
    assert (
        env["SLOSERVE_OPERATOR__INFERENCE_POOLS__ENDPOINT_PICKER_SERVICE"]["value"]
        == service["metadata"]["name"]
    )
    assert env["SLOSERVE_OPERATOR__INFERENCE_POOLS__ENDPOINT_PICKER_PORT"]["value"] == "9002"
    assert env["SLOSERVE_OPERATOR__INFERENCE_POOLS__FAILURE_MODE"]["value"] == "FailOpen"
    grants = _grants(rendered.one("ClusterRole", "-operator")["rules"])
    pool_grants = {grant for grant in grants if grant[1] == "inferencepools"}
    assert pool_grants == {
        ("inference.networking.k8s.io", "inferencepools", "create"),
        ("inference.networking.k8s.io", "inferencepools", "patch"),
    }


def test_a_tls_secret_is_mounted_and_insecure_serving_drops_tls(helm: pathlib.Path) -> None:
    with_secret = helm_chart.render(
        helm, values={"epp": {"enabled": True, "tls": {"existingSecret": "epp-tls"}}}
    )
    args = with_secret.container("-epp")["args"]
    assert "--tls-cert-file=/var/run/secrets/sloserve.io/epp-tls/tls.crt" in args
    pod = with_secret.one("Deployment", "-epp")["spec"]["template"]["spec"]
    assert {"name": "tls", "secret": {"secretName": "epp-tls"}} in pod["volumes"]
    plaintext = helm_chart.render(helm, values={"epp": {"enabled": True, "secureServing": False}})
    assert "--insecure" in plaintext.container("-epp")["args"]


def test_the_rendered_picker_meets_the_kubernetes_schemas(rendered: helm_chart.Rendered) -> None:
    for document in rendered.documents:
        kubernetes_validate.validate(document, helm_chart.KUBE_VERSION, strict=True)


def test_a_misspelt_failure_mode_is_refused_naming_the_key(helm: pathlib.Path) -> None:
    error = helm_chart.refuse(helm, values={"inferencePool": {"failureMode": "Open"}})
    assert "failureMode" in error
