"""ModelService specs for builder tests."""

from __future__ import annotations

from typing import Any

from sloserve.api.spec import ModelServiceSpec
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
            "image": "vllm/vllm-openai:v0.11.0",
            "gpus": 1,
            "gpuProduct": "NVIDIA-H100-80GB-HBM3",
            **engine,
        }
    )
