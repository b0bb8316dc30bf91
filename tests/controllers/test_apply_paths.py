"""Where server-side apply sends each kind of child, and how API errors read."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from sloserve.controllers import kube_apply


def _manifest(api_version: str, kind: str) -> dict[str, object]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "m", "namespace": "ns"}}


@pytest.mark.parametrize(
    ("api_version", "kind", "path"),
    [
        ("apps/v1", "Deployment", "/apis/apps/v1/namespaces/ns/deployments/m"),
        ("v1", "Service", "/api/v1/namespaces/ns/services/m"),
        (
            "policy/v1",
            "PodDisruptionBudget",
            "/apis/policy/v1/namespaces/ns/poddisruptionbudgets/m",
        ),
    ],
)
def test_each_child_kind_has_its_path(api_version: str, kind: str, path: str) -> None:
    assert kube_apply.object_path(_manifest(api_version, kind)) == path


def test_other_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="ConfigMap"):
        kube_apply.object_path(_manifest("v1", "ConfigMap"))


def test_api_error_message_is_the_servers_own() -> None:
    error = ApiException(status=422, reason="Unprocessable Entity")
    error.body = json.dumps({"kind": "Status", "message": 'Deployment "m" is invalid: x'})
    assert kube_apply.api_error_message(error) == 'Deployment "m" is invalid: x'
    assert kube_apply.api_error_message(ApiException(status=503, reason="Unavailable")) == (
        "HTTP 503 Unavailable"
    )
