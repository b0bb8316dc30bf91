"""The production sample is accepted by a real API server (`kubectl apply --dry-run=server`),
and so is everything the operator builds from it, and from an engine that sets every field:
the Deployment, Service and PodDisruptionBudget pass the API server's own validation, which
checks more than the schemas do (privileged without escalation, volume sources, selectors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import workloads
from sloserve.builders.defaults import EngineDefaults

REPOSITORY = Path(__file__).resolve().parents[2]
PRODUCTION = REPOSITORY / "config" / "samples" / "modelservice-llama-3.1-8b-h100-production.yaml"
EVERY_FIELD = REPOSITORY / "tests" / "chart" / "engine_every_field.yaml"


def _dry_run(kube_cluster: Any, namespace: str, document: dict[str, Any]) -> str:
    result = kube_cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(document)
    )
    return str(result.stdout)


def test_the_production_sample_is_accepted(kube_cluster: Any, namespace: str) -> None:
    answer = _dry_run(kube_cluster, namespace, yaml.safe_load(PRODUCTION.read_text()))
    assert "llama-3-1-8b created (server dry run)" in answer


def _specs() -> dict[str, ModelServiceSpec]:
    production = yaml.safe_load(PRODUCTION.read_text())["spec"]
    everything = {**production, "engine": yaml.safe_load(EVERY_FIELD.read_text())}
    return {
        "production-sample": ModelServiceSpec.model_validate(production),
        "every-field": ModelServiceSpec.model_validate(everything),
    }


@pytest.mark.parametrize("name", sorted(_specs()))
def test_what_the_operator_builds_is_accepted(kube_cluster: Any, namespace: str, name: str) -> None:
    children = workloads.build_children(
        name=name, namespace=namespace, spec=_specs()[name], defaults=EngineDefaults(sim_image="x")
    )
    for manifest in children:
        answer = _dry_run(kube_cluster, namespace, manifest)
        assert "(server dry run)" in answer
