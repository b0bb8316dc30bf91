"""ModelService specs for builder tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import engine_pod
from sloserve.builders.defaults import EngineDefaults

DEFAULTS = EngineDefaults(sim_image="ghcr.io/sloserve/sloserve:test")


def make_spec(*, engine: dict[str, Any] | None = None, **fields: Any) -> ModelServiceSpec:
    """A valid spec: a simulated engine and one SLO class, with `engine` and `fields` on top."""
    raw: dict[str, Any] = {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "engine": {"kind": "sim", **(engine or {})},
        "replicas": 2,
        "sloClasses": [{"name": "standard", "ttft": "3s", "tpot": "30ms"}],
        "defaultClass": "standard",
        **fields,
    }
    return ModelServiceSpec.model_validate(raw)


def vllm_spec(**engine: Any) -> ModelServiceSpec:
    """A vLLM engine on one H100 per replica, with `engine` fields on top."""
    return make_spec(
        engine={
            "kind": "vllm",
            "image": "vllm/vllm-openai:v0.32.0",
            "gpus": 1,
            "gpuProduct": "NVIDIA-H100-80GB-HBM3",
            **engine,
        }
    )


PRODUCTION_SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "config"
    / "samples"
    / "modelservice-llama-3.1-8b-h100-production.yaml"
)


def production_spec() -> ModelServiceSpec:
    """The production sample's spec: vLLM on H100s with a model cache claim, a token Secret,
    tolerations, a node selector, spread constraints and a drain time."""
    document = yaml.safe_load(PRODUCTION_SAMPLE.read_text())
    return ModelServiceSpec.model_validate(document["spec"])


def pod_spec(spec: ModelServiceSpec, defaults: EngineDefaults = DEFAULTS) -> dict[str, Any]:
    """The engine pod spec built for `spec`, ModelService `llama`."""
    template = engine_pod.engine_pod_template(name="llama", spec=spec, defaults=defaults)
    built: dict[str, Any] = template["spec"]
    return built


def container(spec: ModelServiceSpec, defaults: EngineDefaults = DEFAULTS) -> dict[str, Any]:
    """The engine container built for `spec`."""
    (engine,) = pod_spec(spec, defaults)["containers"]
    built: dict[str, Any] = engine
    return built
