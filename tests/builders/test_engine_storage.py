"""The engine pod's model cache, extra volumes, shared memory and environment."""

from __future__ import annotations

import json

import pytest
from builder_specs import container, make_spec, pod_spec, production_spec, vllm_spec


def _env(spec: object) -> dict[str, dict[str, object]]:
    return {entry["name"]: entry for entry in container(spec).get("env", [])}  # type: ignore[arg-type]


def test_a_claim_cache_is_mounted_read_write_with_hf_home_pointing_at_it() -> None:
    spec = vllm_spec(modelCache={"persistentVolumeClaim": {"claimName": "weights"}})
    volumes = {volume["name"]: volume for volume in pod_spec(spec)["volumes"]}
    assert volumes["model-cache"] == {
        "name": "model-cache",
        "persistentVolumeClaim": {"claimName": "weights"},
    }
    mount = next(m for m in container(spec)["volumeMounts"] if m["name"] == "model-cache")
    assert mount == {"name": "model-cache", "mountPath": "/models"}
    assert "readOnly" not in mount
    assert _env(spec)["HF_HOME"] == {"name": "HF_HOME", "value": "/models"}


def test_an_ephemeral_cache_is_a_claim_per_pod_of_the_given_size_and_class() -> None:
    spec = vllm_spec(modelCache={"ephemeral": {"size": "100Gi", "storageClassName": "local-nvme"}})
    (cache,) = [v for v in pod_spec(spec)["volumes"] if v["name"] == "model-cache"]
    template = cache["ephemeral"]["volumeClaimTemplate"]
    assert template["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "local-nvme",
        "resources": {"requests": {"storage": "100Gi"}},
    }
    assert template["metadata"]["labels"] == {"sloserve.io/modelservice": "llama"}


def test_an_ephemeral_cache_without_a_class_uses_the_clusters_default() -> None:
    spec = vllm_spec(modelCache={"ephemeral": {"size": "50Gi"}})
    (cache,) = [v for v in pod_spec(spec)["volumes"] if v["name"] == "model-cache"]
    assert "storageClassName" not in cache["ephemeral"]["volumeClaimTemplate"]["spec"]


def test_a_host_path_cache_is_created_when_missing_at_its_own_mount_path() -> None:
    spec = vllm_spec(modelCache={"hostPath": {"path": "/mnt/models"}, "mountPath": "/cache"})
    (cache,) = [v for v in pod_spec(spec)["volumes"] if v["name"] == "model-cache"]
    assert cache["hostPath"] == {"path": "/mnt/models", "type": "DirectoryOrCreate"}
    assert {"name": "model-cache", "mountPath": "/cache"} in container(spec)["volumeMounts"]
    assert _env(spec)["HF_HOME"]["value"] == "/cache"


def test_without_a_cache_there_is_no_cache_volume_and_no_hf_home() -> None:
    spec = vllm_spec()
    assert [v["name"] for v in pod_spec(spec)["volumes"]] == ["dshm"]
    assert "HF_HOME" not in _env(spec)


def test_the_token_secret_becomes_hf_token_by_reference_only() -> None:
    spec = vllm_spec(huggingFaceTokenSecret={"name": "hf-token", "key": "token"})
    assert _env(spec)["HF_TOKEN"] == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
    }


def test_the_token_secret_key_defaults_to_hf_token() -> None:
    spec = vllm_spec(huggingFaceTokenSecret={"name": "hf-token"})
    assert _env(spec)["HF_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}
    }


def test_env_takes_values_from_secrets_config_maps_and_pod_fields_in_order() -> None:
    env = [
        {"name": "PLAIN", "value": "1"},
        {"name": "EMPTY", "value": ""},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {
            "name": "FROM_CONFIG",
            "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k", "optional": True}},
        },
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
    ]
    assert container(make_spec(engine={"env": env}))["env"] == env


def test_env_from_brings_whole_secrets_and_config_maps() -> None:
    env_from = [
        {"prefix": "S3_", "secretRef": {"name": "object-store"}},
        {"configMapRef": {"name": "engine-tuning", "optional": True}},
    ]
    assert container(make_spec(engine={"envFrom": env_from}))["envFrom"] == env_from


def test_extra_volumes_and_mounts_follow_the_operators_own() -> None:
    spec = vllm_spec(
        pod={
            "volumes": [
                {"name": "chat-templates", "configMap": {"name": "templates"}},
                {"name": "scratch", "emptyDir": {}},
            ]
        },
        volumeMounts=[
            {"name": "chat-templates", "mountPath": "/templates", "readOnly": True},
            {"name": "scratch", "mountPath": "/scratch"},
        ],
    )
    assert [v["name"] for v in pod_spec(spec)["volumes"]] == ["dshm", "chat-templates", "scratch"]
    assert pod_spec(spec)["volumes"][2] == {"name": "scratch", "emptyDir": {}}
    assert container(spec)["volumeMounts"][1:] == [
        {"name": "chat-templates", "mountPath": "/templates", "readOnly": True},
        {"name": "scratch", "mountPath": "/scratch"},
    ]


@pytest.mark.parametrize(("gpus", "size"), [(1, "2Gi"), (4, "8Gi"), (8, "16Gi")])
def test_vllm_shared_memory_is_memory_backed_and_sized_from_the_gpus(gpus: int, size: str) -> None:
    spec = vllm_spec(gpus=gpus)
    assert pod_spec(spec)["volumes"][0] == {
        "name": "dshm",
        "emptyDir": {"medium": "Memory", "sizeLimit": size},
    }
    assert container(spec)["volumeMounts"][0] == {"name": "dshm", "mountPath": "/dev/shm"}


def test_shm_size_sets_the_shared_memory_limit() -> None:
    assert pod_spec(vllm_spec(shmSize="12Gi"))["volumes"][0]["emptyDir"]["sizeLimit"] == "12Gi"


def test_sim_engines_get_shared_memory_only_when_asked() -> None:
    assert "volumes" not in pod_spec(make_spec())
    asked = pod_spec(make_spec(engine={"shmSize": "256Mi"}))
    assert asked["volumes"] == [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}}
    ]


def test_the_production_sample_carries_no_secret_value() -> None:
    spec = production_spec()
    built = json.dumps(pod_spec(spec))
    assert '"HF_TOKEN"' in built
    assert "hf_" not in built.replace("hf-token", "")
