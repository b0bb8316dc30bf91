"""The `operator.slo` values reach the operator as its `SLOSERVE_OPERATOR__SLO__*` settings."""

from __future__ import annotations

import pathlib

import pytest

from chart import helm_chart

SLO_VARIABLES = (
    "SLOSERVE_OPERATOR__SLO__PROMETHEUS_URL",
    "SLOSERVE_OPERATOR__SLO__GATEWAY_URLS",
    "SLOSERVE_OPERATOR__SLO__WINDOW",
    "SLOSERVE_OPERATOR__SLO__INTERVAL",
)


def test_by_default_the_operator_scrapes_every_gateway_pod_of_its_release(
    helm: pathlib.Path,
) -> None:
    rendered = helm_chart.render(helm)
    env = rendered.env("-operator")
    assert [name for name in SLO_VARIABLES if name in env] == [
        "SLOSERVE_OPERATOR__SLO__GATEWAY_URLS"
    ]
    pods_service = rendered.one("Service", "-gateway-pods")
    name = pods_service["metadata"]["name"]
    assert env["SLOSERVE_OPERATOR__SLO__GATEWAY_URLS"]["value"] == (
        f"dns+http://{name}.sloserve-system.svc:8080"
    )
    # Headless, so the name resolves to each ready gateway pod, and on the pods' own port.
    assert pods_service["spec"]["clusterIP"] == "None"
    assert pods_service["spec"]["ports"][0]["port"] == 8080
    gateway_pods = rendered.one("Deployment", "-gateway")["spec"]["template"]["metadata"]
    selector = pods_service["spec"]["selector"]
    assert selector.items() <= gateway_pods["labels"].items()


def test_the_gateway_service_monitor_does_not_select_the_headless_service(
    helm: pathlib.Path,
) -> None:
    rendered = helm_chart.render(
        helm,
        set_values=["metrics.serviceMonitor.enabled=true"],
        api_versions=["monitoring.coreos.com/v1/ServiceMonitor"],
    )
    wanted = rendered.one("ServiceMonitor", "-gateway")["spec"]["selector"]["matchLabels"]
    selected = [
        service["metadata"]["name"]
        for service in rendered.all_of("Service")
        if wanted.items() <= service["metadata"]["labels"].items()
    ]
    assert selected == [rendered.one("Service", "-gateway")["metadata"]["name"]]


def test_without_release_gateway_scrapes_the_operator_gets_no_slo_settings(
    helm: pathlib.Path,
) -> None:
    env = helm_chart.render(helm, set_values=["operator.slo.scrapeReleaseGateways=false"]).env(
        "-operator"
    )
    assert [name for name in SLO_VARIABLES if name in env] == []


def test_set_slo_values_become_the_operator_settings(helm: pathlib.Path) -> None:
    values = {
        "operator": {
            "slo": {
                "gatewayUrls": ["http://10.0.0.5:8080", "http://10.0.0.6:8080"],
                "window": "20s",
                "interval": "5s",
            }
        }
    }
    env = helm_chart.render(helm, values=values).env("-operator")
    assert env["SLOSERVE_OPERATOR__SLO__GATEWAY_URLS"]["value"] == (
        "http://10.0.0.5:8080,http://10.0.0.6:8080"
    )
    assert env["SLOSERVE_OPERATOR__SLO__WINDOW"]["value"] == "20s"
    assert env["SLOSERVE_OPERATOR__SLO__INTERVAL"]["value"] == "5s"
    assert "SLOSERVE_OPERATOR__SLO__PROMETHEUS_URL" not in env


def test_a_prometheus_url_alone_sets_only_the_url(helm: pathlib.Path) -> None:
    env = helm_chart.render(
        helm, set_values=["operator.slo.prometheusUrl=http://prometheus.monitoring:9090"]
    ).env("-operator")
    assert env["SLOSERVE_OPERATOR__SLO__PROMETHEUS_URL"]["value"] == (
        "http://prometheus.monitoring:9090"
    )
    assert [name for name in SLO_VARIABLES if name in env] == [
        "SLOSERVE_OPERATOR__SLO__PROMETHEUS_URL"
    ]


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("operator.slo.window=5 minutes", "/operator/slo/window"),
        ("operator.slo.interval=-1s", "/operator/slo/interval"),
        ("operator.slo.prometheusUrl=prometheus:9090", "/operator/slo/prometheusUrl"),
        ("operator.slo.gatewayUrls={gw-0:8080}", "/operator/slo/gatewayUrls/0"),
    ],
)
def test_a_bad_slo_value_fails_naming_it(helm: pathlib.Path, setting: str, named: str) -> None:
    message = helm_chart.refuse(helm, set_values=[setting])
    assert f"at '{named}'" in message
