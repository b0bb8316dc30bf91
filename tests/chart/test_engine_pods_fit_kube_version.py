"""The chart's `kubeVersion` is what the engine pods the operator builds need: the Deployment of
a ModelService that sets every engine field is valid against the Kubernetes schemas of the
oldest release the chart accepts, strictly (no field it does not know)."""

from __future__ import annotations

import pathlib
import re

import kubernetes_validate
import pytest
import yaml

from chart import helm_chart
from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import workloads
from sloserve.builders.defaults import EngineDefaults

PRODUCTION = (
    helm_chart.REPOSITORY
    / "config"
    / "samples"
    / ("modelservice-llama-3.1-8b-h100-production.yaml")
)
#: An engine with every field set, beyond what the production sample sets.
EVERY_FIELD = pathlib.Path(__file__).with_name("engine_every_field.yaml")


def _oldest_kube_version() -> str:
    chart = yaml.safe_load((helm_chart.CHART / "Chart.yaml").read_text())
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)\.\d+(-0)?", chart["kubeVersion"])
    assert match, f"kubeVersion {chart['kubeVersion']!r} is not a lower bound"
    return f"{match[1]}.{match[2]}.0"


def _specs() -> list[ModelServiceSpec]:
    production = yaml.safe_load(PRODUCTION.read_text())["spec"]
    everything = {
        **production,
        "engine": yaml.safe_load(EVERY_FIELD.read_text()),
        "drainSeconds": 600,
    }
    return [ModelServiceSpec.model_validate(spec) for spec in (production, everything)]


@pytest.mark.parametrize("kube_version", [_oldest_kube_version(), helm_chart.KUBE_VERSION])
@pytest.mark.parametrize("spec", _specs(), ids=["production-sample", "every-field"])
def test_engine_workloads_meet_the_schemas_of_the_supported_releases(
    kube_version: str, spec: ModelServiceSpec
) -> None:
    for manifest in workloads.build_children(
        name="llama", namespace="team-a", spec=spec, defaults=EngineDefaults(sim_image="x")
    ):
        kubernetes_validate.validate(manifest, kube_version, strict=True)


def test_a_field_newer_than_the_oldest_release_is_caught() -> None:
    (_, deployment, _) = workloads.build_children(
        name="llama", namespace="team-a", spec=_specs()[0], defaults=EngineDefaults(sim_image="x")
    )
    # Pod-level resources arrived in Kubernetes 1.32.
    deployment["spec"]["template"]["spec"]["resources"] = {"limits": {"cpu": "8"}}
    kubernetes_validate.validate(deployment, helm_chart.KUBE_VERSION, strict=True)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, _oldest_kube_version(), strict=True)
