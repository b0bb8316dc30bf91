"""Fixtures of the end-to-end suite: a cluster (see providers), the chart installed on it once per
session, the gateway reached as a Service would reach it, and a namespace for ModelServices.

Every test here is marked `e2e`; `pytest -m "not e2e"` skips the suite. A test may take up to
`TEST_TIMEOUT_S`, its share of starting the cluster and installing the chart included."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from e2e import gateway_access, providers, tenants
from e2e.chart_release import ChartRelease, install, uninstall
from sloserve_dev import handle

TEST_TIMEOUT_S = 600
#: A test on real vLLM: the first one waits for vLLM to start on the CPU (minutes when busy).
VLLM_TEST_TIMEOUT_S = 1800


#: Runs after every other test: it checks that none of them sent anything off the machine.
LAST_MODULE = "e2e/test_egress.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith("e2e/"):
            item.add_marker(pytest.mark.e2e)
            real_vllm = item.get_closest_marker("vllm") is not None
            timeout_s = VLLM_TEST_TIMEOUT_S if real_vllm else TEST_TIMEOUT_S
            item.add_marker(pytest.mark.timeout(timeout_s), append=False)
    last = [item for item in items if item.nodeid.startswith(LAST_MODULE)]
    items[:] = [item for item in items if not item.nodeid.startswith(LAST_MODULE)] + last


@pytest.fixture(scope="session")
def provider(request: pytest.FixtureRequest) -> providers.Provider:
    """The external cluster of SLOSERVE_E2E_KUBECONFIG, else the session's kind cluster."""
    found = providers.external()
    if found is not None:
        return found
    running: handle.ClusterHandle = request.getfixturevalue("kind_cluster")
    return providers.kind(running)


@pytest.fixture(scope="session")
def release(provider: providers.Provider) -> Iterator[ChartRelease]:
    """The chart, installed with `helm install --wait` into a namespace of its own, with the
    suite's tenants (see e2e.tenants) in the tenants Secret it creates."""
    suffix = uuid.uuid4().hex[:6]
    installed = install(
        provider,
        name=f"e2e-{suffix}",
        namespace=f"sloserve-e2e-{suffix}",
        values={
            "gateway": {"tenants": {"config": tenants.TENANTS_FILE}},
            # The FineTuneJob controller, its RBAC checked by test_rbac.py; its time constants
            # (and the SLO figures' window) short, so that e2e/test_finetune.py's phases take
            # seconds. Only FineTuneJobs, which only that module makes, read them.
            "finetune": {
                "enabled": True,
                "controlIntervalSeconds": 1,
                "throttle": {
                    "holdSeconds": 2,
                    "rampIntervalSeconds": 1,
                    "ramp": 0.25,
                    "evictAfterSeconds": 600,
                },
            },
            "operator": {"slo": {"window": "10s", "interval": "2s"}},
        },
    )
    yield installed
    uninstall(provider, installed)


@pytest.fixture(scope="session")
def gateway(
    provider: providers.Provider, release: ChartRelease
) -> Iterator[gateway_access.GatewayAccess]:
    access = gateway_access.GatewayAccess(
        provider.cluster,
        namespace=release.namespace,
        service=release.gateway,
        pods_reachable=provider.pods_reachable,
    )
    yield access
    access.close()


@pytest.fixture(scope="session")
def models_namespace(provider: providers.Provider, release: ChartRelease) -> Iterator[str]:
    """A namespace for the suite's ModelServices, deleted afterwards."""
    name = f"e2e-models-{uuid.uuid4().hex[:6]}"
    provider.cluster.kubectl("create", "namespace", name)
    yield name
    provider.cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
