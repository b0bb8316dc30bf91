"""CPU, memory and GPUs of the engine container, with defaults sized for vLLM."""

from __future__ import annotations

import pytest
from builder_specs import container, make_spec, vllm_spec


@pytest.mark.parametrize(
    ("gpus", "cpu", "memory"), [(1, "4", "26Gi"), (2, "8", "52Gi"), (8, "32", "208Gi")]
)
def test_vllm_without_resources_gets_cpu_and_memory_per_gpu(
    gpus: int, cpu: str, memory: str
) -> None:
    resources = container(vllm_spec(gpus=gpus))["resources"]
    assert resources["requests"] == {"cpu": cpu, "memory": memory, "nvidia.com/gpu": str(gpus)}
    # No CPU limit: throttling would slow the API server and tokenization.
    assert resources["limits"] == {"memory": memory, "nvidia.com/gpu": str(gpus)}


def test_the_memory_default_counts_the_shared_memory() -> None:
    resources = container(vllm_spec(gpus=1, shmSize="10Gi"))["resources"]
    assert resources["requests"]["memory"] == "34Gi"


def test_what_the_spec_sets_is_kept_and_only_the_rest_defaulted() -> None:
    spec = vllm_spec(resources={"requests": {"memory": "40Gi"}, "limits": {"memory": "48Gi"}})
    resources = container(spec)["resources"]
    assert resources["requests"] == {"memory": "40Gi", "cpu": "4", "nvidia.com/gpu": "1"}
    assert resources["limits"] == {"memory": "48Gi", "nvidia.com/gpu": "1"}


def test_a_cpu_limit_alone_counts_as_set() -> None:
    resources = container(vllm_spec(resources={"limits": {"cpu": "6"}}))["resources"]
    assert "cpu" not in resources["requests"]
    assert resources["limits"]["cpu"] == "6"


def test_sim_engines_get_no_defaults() -> None:
    assert "resources" not in container(make_spec())
    sized = container(make_spec(engine={"resources": {"requests": {"cpu": "250m"}}}))
    assert sized["resources"] == {"requests": {"cpu": "250m"}}


def test_gpus_are_requested_and_limited_equally() -> None:
    resources = container(vllm_spec(gpus=2))["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "2"
