"""The chart installs on a real cluster, its pods run under its own ServiceAccounts, and a bad
value is refused by `helm install` with a message naming it."""

from __future__ import annotations

import httpx

from e2e import gateway_access, kube, providers
from e2e.chart_release import CHART, ChartRelease


def test_operator_and_gateway_are_available(
    provider: providers.Provider, release: ChartRelease
) -> None:
    for name in (release.operator, release.gateway):
        deployment = kube.get(provider.cluster, "deployment", name, "-n", release.namespace)
        wanted = deployment["spec"]["replicas"]
        assert deployment["status"].get("availableReplicas") == wanted, name
    assert f"{release.gateway}" in release.notes


def test_pods_run_under_the_charts_service_accounts(
    provider: providers.Provider, release: ChartRelease
) -> None:
    pods = kube.get(provider.cluster, "pods", "-n", release.namespace)["items"]
    accounts = {
        pod["metadata"]["labels"]["app.kubernetes.io/component"]: pod["spec"]["serviceAccountName"]
        for pod in pods
    }
    assert accounts == {
        "operator": f"{release.name}-sloserve-operator",
        "gateway": f"{release.name}-sloserve-gateway",
    }


def test_gateway_answers_on_every_ready_pod(gateway: gateway_access.GatewayAccess) -> None:
    urls = gateway.urls()
    assert len(urls) == 2
    for url in urls:
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        models = httpx.get(f"{url}/v1/models", timeout=10).raise_for_status().json()
        assert models["object"] == "list"


def test_a_bad_value_fails_the_install_naming_it(provider: providers.Provider) -> None:
    refused = provider.cluster.helm(
        "install",
        "e2e-refused",
        str(CHART),
        "--namespace=e2e-refused",
        "--set=gateway.replicas=-1",
        "--set=gateway.policy=lifo",
        check=False,
    )
    assert refused.returncode != 0
    assert "at '/gateway/replicas': minimum: got -1, want 0" in refused.stderr
    assert "at '/gateway/policy': value must be one of" in refused.stderr
    listed = provider.cluster.helm("list", "--namespace=e2e-refused", "-q")
    assert listed.stdout.strip() == ""
