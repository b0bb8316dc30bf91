"""The chart's RBAC grants the operator and the gateway only what their code uses.

The e2e suite checks the same against a real API server (requests refused and allowed); these
checks pin the rules themselves, so that widening one is a deliberate, reviewed change."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from chart import helm_chart
from sloserve.operator import permissions

Grant = tuple[str, str, str]


def _grants(rules: list[dict[str, Any]]) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.fixture(scope="module")
def rendered(helm: pathlib.Path) -> helm_chart.Rendered:
    return helm_chart.render(helm)


def test_gateway_may_only_list_and_watch_modelservices_and_endpointslices(
    rendered: helm_chart.Rendered,
) -> None:
    role = rendered.one("ClusterRole", "-gateway")
    assert _grants(role["rules"]) == {
        ("sloserve.io", "modelservices", "list"),
        ("sloserve.io", "modelservices", "watch"),
        ("discovery.k8s.io", "endpointslices", "list"),
        ("discovery.k8s.io", "endpointslices", "watch"),
        # the tokenizer a ModelService names in a ConfigMap (get only)
        ("", "configmaps", "get"),
    }


def test_operator_manages_only_its_own_kinds_and_never_deletes(
    rendered: helm_chart.Rendered,
) -> None:
    role = rendered.one("ClusterRole", "-operator")
    grants = _grants(role["rules"])
    assert grants == {
        ("sloserve.io", "modelservices", "list"),
        ("sloserve.io", "modelservices", "watch"),
        ("sloserve.io", "modelservices", "patch"),
        ("sloserve.io", "modelservices/status", "patch"),
        ("sloserve.io", "modelservices/finalizers", "update"),
        ("sloserve.io", "modelservices/scale", "patch"),
        *{
            (group, kind, verb)
            for group, kind in (
                ("apps", "deployments"),
                ("", "services"),
                ("policy", "poddisruptionbudgets"),
            )
            for verb in ("list", "watch", "create", "patch")
        },
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "events", "create"),
    }
    nodes = rendered.one("ClusterRole", "-operator-nodes")
    assert _grants(nodes["rules"]) == {("", "nodes", "list"), ("", "nodes", "watch")}


def test_operator_renews_only_its_own_lease(rendered: helm_chart.Rendered) -> None:
    role = rendered.one("Role", "-operator-leader-election")
    named = [rule for rule in role["rules"] if rule.get("resourceNames")]
    unnamed = [rule for rule in role["rules"] if not rule.get("resourceNames")]
    assert _grants(unnamed) == {("coordination.k8s.io", "leases", "create")}
    assert _grants(named) == {
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "update"),
    }
    (lease_rule,) = named
    lease_name = rendered.env("-operator")["SLOSERVE_OPERATOR__LEADER_ELECTION__LEASE_NAME"]
    assert lease_rule["resourceNames"] == [lease_name["value"]]


def test_no_rule_uses_wildcards_or_touches_secrets(rendered: helm_chart.Rendered) -> None:
    for kind in ("ClusterRole", "Role"):
        for role in rendered.all_of(kind):
            for group, resource, verb in _grants(role["rules"]):
                assert "*" not in (group, resource, verb), role["metadata"]["name"]
                assert resource != "secrets", role["metadata"]["name"]


def test_each_binding_names_the_components_own_service_account(
    rendered: helm_chart.Rendered,
) -> None:
    accounts = {account["metadata"]["name"] for account in rendered.all_of("ServiceAccount")}
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for binding in rendered.all_of(kind):
            (subject,) = binding["subjects"]
            assert subject["kind"] == "ServiceAccount"
            assert subject["name"] in accounts
            component = binding["metadata"]["labels"]["app.kubernetes.io/component"]
            assert subject["name"].endswith(f"-{component}"), binding["metadata"]["name"]


def test_the_finetune_controller_gets_no_rights_while_it_is_off(
    rendered: helm_chart.Rendered,
) -> None:
    grants = _grants(rendered.one("ClusterRole", "-operator")["rules"])
    assert not {grant for grant in grants if grant[1].startswith("finetunejobs")}
    assert ("", "pods", "create") not in grants
    env = rendered.env("-operator")
    assert "SLOSERVE_OPERATOR__FINETUNE__ENABLED" not in env


def test_the_finetune_controller_gets_exactly_its_rules_when_on(helm: pathlib.Path) -> None:
    default = _grants(helm_chart.render(helm).one("ClusterRole", "-operator")["rules"])
    on = _grants(
        helm_chart.render(helm, set_values=["finetune.enabled=true"]).one(
            "ClusterRole", "-operator"
        )["rules"]
    )
    added = on - default
    # the rules the operator's permissions list (the least-privilege test runs under them)...
    assert _grants(permissions.FINETUNE_RULES) <= on
    # ...and no more: the `get`s the chart's workload rules leave out are added here
    assert added == {
        ("sloserve.io", "finetunejobs", "get"),
        ("sloserve.io", "finetunejobs", "list"),
        ("sloserve.io", "finetunejobs", "watch"),
        ("sloserve.io", "finetunejobs", "patch"),
        ("sloserve.io", "finetunejobs/status", "get"),
        ("sloserve.io", "finetunejobs/status", "patch"),
        ("sloserve.io", "finetunejobs/finalizers", "update"),
        ("sloserve.io", "modelservices", "get"),
        ("", "pods", "get"),
        ("", "pods", "create"),
        ("", "pods", "delete"),
        ("", "configmaps", "get"),
        ("", "persistentvolumeclaims", "get"),
    }
    # reading a named ConfigMap, never listing them (which would expose every ConfigMap)
    assert ("", "configmaps", "list") not in on
    assert ("", "persistentvolumeclaims", "list") not in on
