"""The engine's fields as the models read them: defaults, derived values, and what the CRD
carries for the API server to enforce."""

from __future__ import annotations

from typing import Any

import pytest

from sloserve.api import crd, engine_flags
from sloserve.api.engine import Engine
from sloserve.api.pod_overlay import OPERATOR_LABEL_KEYS, OPERATOR_LABEL_PREFIX
from sloserve.builders import labels


def _engine(**fields: Any) -> Engine:
    return Engine.model_validate({"kind": "vllm", "image": "vllm/vllm-openai:v0.32.0", **fields})


def _engine_schema() -> dict[str, Any]:
    root = crd.modelservice_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema: dict[str, Any] = root["properties"]["spec"]["properties"]["engine"]
    return schema


@pytest.mark.parametrize(
    ("fields", "tensor", "pipeline"),
    [
        ({"gpus": 1}, 1, 1),
        ({"gpus": 4}, 4, 1),
        ({"gpus": 8, "pipelineParallelSize": 2}, 4, 2),
        ({"gpus": 8, "tensorParallelSize": 2, "pipelineParallelSize": 4}, 2, 4),
    ],
)
def test_parallel_sizes_default_from_the_gpus(
    fields: dict[str, int], tensor: int, pipeline: int
) -> None:
    engine = _engine(**fields)
    assert engine.tensor_parallel_size_or_default == tensor
    assert engine.pipeline_parallel_size_or_default == pipeline


def test_a_model_cache_mounts_at_models_by_default() -> None:
    engine = _engine(gpus=1, modelCache={"persistentVolumeClaim": {"claimName": "weights"}})
    assert engine.model_cache is not None
    assert engine.model_cache.mount_path == "/models"


def test_the_token_secrets_key_defaults_to_hf_token() -> None:
    engine = _engine(gpus=1, huggingFaceTokenSecret={"name": "hf-token"})
    assert engine.hugging_face_token_secret is not None
    assert engine.hugging_face_token_secret.key == "HF_TOKEN"


def test_an_engine_reads_back_as_written() -> None:
    written = {
        "kind": "vllm",
        "image": "vllm/vllm-openai:v0.32.0",
        "gpus": 2,
        "tensorParallelSize": 2,
        "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        "pod": {
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}],
        },
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    }
    dumped = _engine(**written).model_dump(mode="json", exclude_defaults=True)
    assert dumped == written


@pytest.mark.parametrize(
    ("args", "spellings", "value"),
    [
        (["--max-model-len=4096"], ("--max-model-len",), "4096"),
        (["--max_model_len", "8192"], ("--max-model-len",), "8192"),
        (["-tp", "2"], ("--tensor-parallel-size", "-tp"), "2"),
        (["--max-model-len"], ("--max-model-len",), None),
        ([], ("--max-model-len",), None),
    ],
)
def test_flag_values_are_read_in_every_spelling(
    args: list[str], spellings: tuple[str, ...], value: str | None
) -> None:
    assert engine_flags.flag_value(args, spellings) == value


def test_the_crd_refuses_operator_flags_in_both_spellings() -> None:
    rules = " ".join(rule["rule"] for rule in _engine_schema()["x-kubernetes-validations"])
    assert "'--tensor-parallel-size'" in rules
    assert "'--tensor_parallel_size'" in rules
    assert "'-tp'" in rules


def test_cross_field_rules_name_the_field_at_fault() -> None:
    paths = {rule.get("fieldPath") for rule in _engine_schema()["x-kubernetes-validations"]}
    assert {".gpus", ".tensorParallelSize", ".args", ".env", ".volumeMounts"} <= paths
    assert {".modelSource.path", ".pod.nodeSelector", ".shmSize", ".image"} <= paths


def test_the_pod_labels_refused_are_every_label_the_operator_sets() -> None:
    for key in labels.engine_labels("llama", engine_kind="vllm"):
        assert key in OPERATOR_LABEL_KEYS or key.startswith(OPERATOR_LABEL_PREFIX), key
