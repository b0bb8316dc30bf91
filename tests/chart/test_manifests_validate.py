"""Every rendered manifest of a built-in kind is valid against Kubernetes' own OpenAPI schemas
(strict: unknown fields are errors), with the default values and with every option on."""

from __future__ import annotations

import pathlib

import kubernetes_validate
import pytest

from chart import helm_chart

#: kubernetes-validate ships the schemas of the built-in kinds only.
_CUSTOM_KINDS = {"ServiceMonitor"}


@pytest.mark.parametrize(
    "options",
    [
        {},
        {
            "values": helm_chart.ALL_OPTIONS,
            "api_versions": [helm_chart.SERVICE_MONITOR_API],
        },
    ],
    ids=["defaults", "all-options"],
)
def test_rendered_manifests_meet_the_kubernetes_schemas(
    helm: pathlib.Path, options: dict[str, object]
) -> None:
    rendered = helm_chart.render(helm, **options)
    checked = 0
    for document in rendered.documents:
        if document["kind"] in _CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(document, helm_chart.KUBE_VERSION, strict=True)
        checked += 1
    assert checked >= len(rendered.documents) - len(_CUSTOM_KINDS) * 2
    assert checked > 10


def test_an_invalid_manifest_is_caught() -> None:
    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replicas": "two", "selector": {}, "template": {}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, helm_chart.KUBE_VERSION, strict=True)
