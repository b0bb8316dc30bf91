"""The real API server accepts every rendered manifest (server-side dry run): field validation,
defaulting and admission, without creating anything."""

from __future__ import annotations

import pathlib
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from chart import helm_chart
from sloserve_dev import handle


@pytest.fixture
def namespace(kube_cluster: handle.ClusterHandle) -> Iterator[str]:
    name = f"chart-{uuid.uuid4().hex[:8]}"
    kube_cluster.kubectl("create", "namespace", name)
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.parametrize(
    "set_values",
    [
        [],
        [
            "gateway.autoscaling.enabled=true",
            "operator.watchNamespaces={{{namespace}}}",
            "gateway.watchNamespace={namespace}",
            "gateway.service.type=NodePort",
        ],
    ],
    ids=["defaults", "options"],
)
def test_api_server_accepts_the_rendered_manifests(
    kube_cluster: handle.ClusterHandle, helm: pathlib.Path, namespace: str, set_values: list[str]
) -> None:
    argv = helm_chart.template_command(
        helm,
        values_file=None,
        set_values=[value.format(namespace=namespace) for value in set_values],
        namespace=namespace,
    )
    manifests = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    applied = kube_cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=manifests
    )
    lines = applied.stdout.splitlines()
    assert len(lines) == manifests.count("\nkind: ")
    assert all(line.endswith("(server dry run)") for line in lines), applied.stdout
