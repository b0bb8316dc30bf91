"""The engine pod's volumes and the engine container's mounts and environment.

The operator adds two volumes of its own: `dshm`, a memory-backed `/dev/shm` with a size limit,
and `model-cache`, the volume of `engine.modelCache` (an existing claim, a generic ephemeral
volume, or a host path) mounted read-write at its `mountPath` with `HF_HOME` pointed at it.
The user's `engine.pod.volumes` and `engine.volumeMounts` follow.
"""

from __future__ import annotations

from sloserve.api.engine import HF_HOME_ENV, SHM_PATH, Engine
from sloserve.api.env import HF_TOKEN_ENV
from sloserve.api.model_cache import ModelCache
from sloserve.api.pod_overlay import CACHE_VOLUME, SHM_VOLUME
from sloserve.builders import engine_resources, kube_json, labels
from sloserve.builders.defaults import EngineDefaults, Manifest

__all__ = ["POD_IP_ENV", "engine_env", "engine_env_from", "pod_volumes", "volume_mounts"]

#: The environment variable holding the pod's IP, for a listen host of `$(POD_IP)`.
POD_IP_ENV = "POD_IP"


def _cache_volume(cache: ModelCache, *, model_service: str) -> Manifest:
    if cache.persistent_volume_claim is not None:
        return {
            "name": CACHE_VOLUME,
            "persistentVolumeClaim": {"claimName": cache.persistent_volume_claim.claim_name},
        }
    if cache.host_path is not None:
        return {
            "name": CACHE_VOLUME,
            "hostPath": {"path": cache.host_path.path, "type": "DirectoryOrCreate"},
        }
    assert cache.ephemeral is not None  # the models refuse a cache without a source
    claim_spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": cache.ephemeral.size}},
    }
    if cache.ephemeral.storage_class_name is not None:
        claim_spec["storageClassName"] = cache.ephemeral.storage_class_name
    return {
        "name": CACHE_VOLUME,
        "ephemeral": {
            "volumeClaimTemplate": {
                # The claim is named after the pod; the label says whose engines made it.
                "metadata": {"labels": {labels.MODEL_SERVICE: model_service}},
                "spec": claim_spec,
            }
        },
    }


def pod_volumes(engine: Engine, *, model_service: str) -> list[Manifest]:
    """The pod's volumes: shared memory (when the engine has any), the model cache, then
    `engine.pod.volumes`."""
    volumes: list[Manifest] = []
    shm = engine_resources.shm_size(engine)
    if shm is not None:
        volumes.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": shm}})
    if engine.model_cache is not None:
        volumes.append(_cache_volume(engine.model_cache, model_service=model_service))
    volumes += [kube_json.to_manifest(volume) for volume in engine.pod.volumes]
    return volumes


def volume_mounts(engine: Engine) -> list[Manifest]:
    """The engine container's mounts: `/dev/shm`, the model cache (read-write), then
    `engine.volumeMounts`."""
    mounts: list[Manifest] = []
    if engine_resources.shm_size(engine) is not None:
        mounts.append({"name": SHM_VOLUME, "mountPath": SHM_PATH})
    if engine.model_cache is not None:
        mounts.append({"name": CACHE_VOLUME, "mountPath": engine.model_cache.mount_path})
    mounts += [kube_json.to_manifest(mount) for mount in engine.volume_mounts]
    return mounts


def engine_env(engine: Engine, defaults: EngineDefaults) -> list[Manifest]:
    """The engine container's environment: `POD_IP` when engines bind the pod's IP, `HF_TOKEN`
    from `engine.huggingFaceTokenSecret` (a reference: the token itself never appears in a
    manifest), `HF_HOME` at the model cache, then `engine.env` in its order."""
    env: list[Manifest] = []
    if f"$({POD_IP_ENV})" in defaults.listen_host:
        env.append({"name": POD_IP_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
    token = engine.hugging_face_token_secret
    if token is not None:
        env.append(
            {
                "name": HF_TOKEN_ENV,
                "valueFrom": {"secretKeyRef": {"name": token.name, "key": token.key}},
            }
        )
    if engine.model_cache is not None:
        env.append({"name": HF_HOME_ENV, "value": engine.model_cache.mount_path})
    env += [kube_json.to_manifest(variable) for variable in engine.env]
    return env


def engine_env_from(engine: Engine) -> list[Manifest]:
    """`engine.envFrom` as the container's `envFrom`."""
    return [kube_json.to_manifest(source) for source in engine.env_from]
