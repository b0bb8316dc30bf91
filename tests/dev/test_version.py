"""The local control plane runs the release it was built from."""

from __future__ import annotations

import json

import pytest

from sloserve_dev import handle, paths

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("local_only")]


def test_kubectl_reports_the_built_release_for_client_and_server(
    kube_cluster: handle.ClusterHandle,
) -> None:
    report = json.loads(kube_cluster.kubectl("version", "--output=json").stdout)

    assert report["clientVersion"]["gitVersion"] == paths.kube_version()
    assert report["serverVersion"]["gitVersion"] == paths.kube_version()


def test_version_endpoint_reports_the_built_release(kube_cluster: handle.ClusterHandle) -> None:
    version = json.loads(kube_cluster.kubectl("get", "--raw", "/version").stdout)

    assert version["gitVersion"] == paths.kube_version()
    assert version["major"] == "1"
