"""values.schema.json and the chart's own checks refuse bad values, naming the value."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jsonschema
import pytest
import yaml

from chart import helm_chart

SCHEMA = json.loads((helm_chart.CHART / "values.schema.json").read_text())
DEFAULTS = yaml.safe_load((helm_chart.CHART / "values.yaml").read_text())


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of user values over the defaults: maps merge, anything else replaces."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merged(base[key], value)
        else:
            merged[key] = value
    return merged


def test_the_default_values_meet_the_schema() -> None:
    jsonschema.validate(DEFAULTS, SCHEMA)


def test_the_every_option_values_meet_the_schema() -> None:
    jsonschema.validate(_merged(DEFAULTS, helm_chart.ALL_OPTIONS), SCHEMA)


def test_every_default_value_is_described_in_the_schema() -> None:
    def paths(values: dict[str, Any], schema: dict[str, Any], prefix: str) -> list[str]:
        missing = []
        properties = schema.get("properties", {})
        for key, value in values.items():
            if key not in properties:
                missing.append(prefix + key)
                continue
            child = properties[key]
            if isinstance(value, dict) and "properties" in child:
                missing += paths(value, child, f"{prefix}{key}.")
        return missing

    assert paths(DEFAULTS, SCHEMA, "") == []


@pytest.mark.parametrize(
    ("setting", "named", "says"),
    [
        ("gateway.replicas=-1", "/gateway/replicas", "minimum"),
        ("gateway.replica=2", "/gateway", "'replica' not allowed"),
        ("gateway.policy=lifo", "/gateway/policy", "'scorpio', 'deadline', 'fcfs'"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy", "'Always', 'IfNotPresent', 'Never'"),
        ("operator.replicas=5", "/operator/replicas", "maximum"),
        ("gateway.resources.requests.cpu=lots", "/gateway/resources/requests/cpu", "pattern"),
        ("gateway.service.type=Ingress", "/gateway/service/type", "ClusterIP"),
        ("gateway.containerPort=80", "/gateway/containerPort", "minimum"),
        ("operator.logLevel=verbose", "/operator/logLevel", "debug"),
        ("image.digest=latest", "/image/digest", "pattern"),
        ("metrics.serviceMonitor.interval=often", "/metrics/serviceMonitor/interval", "pattern"),
        (
            "gateway.tenants.config.tenants[0].keys[0]=k",
            "/gateway/tenants/config/tenants/0",
            "name",
        ),
        ("operator.watchNamespaces={Team_A}", "/operator/watchNamespaces/0", "pattern"),
    ],
)
def test_a_bad_value_fails_naming_it(
    helm: pathlib.Path, setting: str, named: str, says: str
) -> None:
    message = helm_chart.refuse(helm, set_values=[setting])
    assert "values don't meet the specifications of the schema" in message
    assert f"at '{named}'" in message
    assert says in message


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        (
            [
                "gateway.autoscaling.enabled=true",
                "gateway.autoscaling.minReplicas=5",
                "gateway.autoscaling.maxReplicas=3",
            ],
            ["gateway.autoscaling.minReplicas (5)", "gateway.autoscaling.maxReplicas (3)"],
        ),
        (
            ["gateway.tenants.existingSecret=keys", "gateway.tenants.config.tenants[0].name=a"],
            ["gateway.tenants.existingSecret", "gateway.tenants.config.tenants"],
        ),
        (["gateway.serviceAccount.create=false"], ["gateway.serviceAccount.name"]),
        (["operator.serviceAccount.create=false"], ["operator.serviceAccount.name"]),
        (["gateway.service.nodePort=30080"], ["gateway.service.nodePort", "ClusterIP"]),
    ],
)
def test_values_that_contradict_each_other_fail_naming_both(
    helm: pathlib.Path, settings: list[str], names: list[str]
) -> None:
    message = helm_chart.refuse(helm, set_values=settings)
    for name in names:
        assert name in message
