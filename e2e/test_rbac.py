"""The chart's ServiceAccounts may do what their component needs and are refused the rest, by
the real API server: `kubectl auth can-i` answers, and real requests made with their tokens."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from e2e import kube, providers
from e2e.chart_release import ChartRelease


def _cases(*cases: tuple[tuple[str, ...], bool]) -> list[Any]:
    """pytest parameters named by what they ask, e.g. `may not get secrets -A`."""
    return [
        pytest.param(args, allowed, id=f"{'may' if allowed else 'may not'} {' '.join(args)}")
        for args, allowed in cases
    ]


@pytest.mark.parametrize(
    ("request_args", "allowed"),
    _cases(
        (("list", "modelservices.sloserve.io", "-A"), True),
        (("watch", "endpointslices.discovery.k8s.io", "-A"), True),
        (("get", "secrets", "-A"), False),
        (("list", "pods", "-A"), False),
        (("create", "deployments.apps", "-n", "default"), False),
        (("patch", "modelservices.sloserve.io", "-n", "default"), False),
        (("delete", "endpointslices.discovery.k8s.io", "-n", "default"), False),
        (("create", "leases.coordination.k8s.io", "-n", "default"), False),
    ),
)
def test_gateway_may_only_read_modelservices_and_endpointslices(
    provider: providers.Provider,
    release: ChartRelease,
    request_args: tuple[str, ...],
    allowed: bool,
) -> None:
    assert kube.can_i(provider.cluster, release.service_account("gateway"), *request_args) is (
        allowed
    )


@pytest.mark.parametrize(
    ("request_args", "allowed"),
    _cases(
        (("patch", "modelservices.sloserve.io", "-n", "default"), True),
        (("patch", "modelservices.sloserve.io/status", "-n", "default"), True),
        (("create", "deployments.apps", "-n", "default"), True),
        (("patch", "services", "-n", "default"), True),
        (("create", "poddisruptionbudgets.policy", "-n", "default"), True),
        (("watch", "pods", "-A"), True),
        (("list", "nodes"), True),
        (("create", "events", "-n", "default"), True),
        (("delete", "deployments.apps", "-n", "default"), False),
        (("delete", "modelservices.sloserve.io", "-n", "default"), False),
        (("get", "secrets", "-n", "default"), False),
        (("patch", "nodes"), False),
        (("list", "configmaps", "-A"), False),
        (("create", "clusterrolebindings.rbac.authorization.k8s.io"), False),
        (("create", "leases.coordination.k8s.io", "-n", "default"), False),
    ),
)
def test_operator_may_manage_its_kinds_and_nothing_wider(
    provider: providers.Provider,
    release: ChartRelease,
    request_args: tuple[str, ...],
    allowed: bool,
) -> None:
    assert kube.can_i(provider.cluster, release.service_account("operator"), *request_args) is (
        allowed
    )


@pytest.mark.parametrize(
    ("request_args", "allowed"),
    _cases(
        (("watch", "finetunejobs.sloserve.io", "-A"), True),
        (("patch", "finetunejobs.sloserve.io", "-n", "default"), True),
        (("patch", "finetunejobs.sloserve.io", "--subresource=status", "-n", "default"), True),
        (
            ("update", "finetunejobs.sloserve.io", "--subresource=finalizers", "-n", "default"),
            True,
        ),
        (("create", "pods", "-n", "default"), True),
        (("delete", "pods", "-n", "default"), True),
        (("get", "configmaps", "-n", "default"), True),
        (("get", "persistentvolumeclaims", "-n", "default"), True),
        (("delete", "finetunejobs.sloserve.io", "-n", "default"), False),
        (("create", "finetunejobs.sloserve.io", "-n", "default"), False),
        (("patch", "pods", "-n", "default"), False),
        (("create", "pods", "--subresource=exec", "-n", "default"), False),
        (("list", "configmaps", "-n", "default"), False),
        (("list", "persistentvolumeclaims", "-A"), False),
        (("create", "persistentvolumeclaims", "-n", "default"), False),
    ),
)
def test_operator_may_run_finetune_workers_and_read_only_named_datasets(
    provider: providers.Provider,
    release: ChartRelease,
    request_args: tuple[str, ...],
    allowed: bool,
) -> None:
    # the session's release has finetune.enabled (see conftest.py)
    assert kube.can_i(provider.cluster, release.service_account("operator"), *request_args) is (
        allowed
    )


def test_the_gateway_may_not_touch_finetune_jobs_or_workers(
    provider: providers.Provider, release: ChartRelease
) -> None:
    user = release.service_account("gateway")
    assert not kube.can_i(provider.cluster, user, "list", "finetunejobs.sloserve.io", "-A")
    assert not kube.can_i(provider.cluster, user, "create", "pods", "-n", "default")


def test_operator_may_renew_only_its_own_lease(
    provider: providers.Provider, release: ChartRelease
) -> None:
    user = release.service_account("operator")
    namespace = ("-n", release.namespace)
    assert kube.can_i(provider.cluster, user, "create", "leases.coordination.k8s.io", *namespace)
    assert kube.can_i(
        provider.cluster,
        user,
        "update",
        f"leases.coordination.k8s.io/{release.operator}",
        *namespace,
    )
    assert not kube.can_i(
        provider.cluster, user, "update", "leases.coordination.k8s.io/someone-else", *namespace
    )


def test_gateway_token_is_refused_a_forbidden_request_and_allowed_its_own(
    provider: providers.Provider, release: ChartRelease, tmp_path: pathlib.Path
) -> None:
    config = kube.service_account_kubeconfig(
        provider.cluster,
        namespace=release.namespace,
        service_account=f"{release.name}-sloserve-gateway",
        directory=tmp_path,
    )
    as_gateway = ("--kubeconfig", str(config))
    refused = provider.cluster.kubectl("get", "secrets", *as_gateway, check=False)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr
    assert release.service_account("gateway") in refused.stderr
    allowed = provider.cluster.kubectl("get", "endpointslices", "-A", *as_gateway, "-o", "name")
    assert allowed.returncode == 0


def test_operator_token_is_refused_secrets_and_allowed_nodes(
    provider: providers.Provider, release: ChartRelease, tmp_path: pathlib.Path
) -> None:
    config = kube.service_account_kubeconfig(
        provider.cluster,
        namespace=release.namespace,
        service_account=f"{release.name}-sloserve-operator",
        directory=tmp_path,
    )
    as_operator = ("--kubeconfig", str(config))
    refused = provider.cluster.kubectl("get", "secrets", *as_operator, check=False)
    assert "Forbidden" in refused.stderr
    nodes = provider.cluster.kubectl("get", "nodes", *as_operator, "-o", "name")
    assert nodes.stdout.strip()
