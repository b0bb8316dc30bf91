"""A pod's volumes, made real as directories of the pod's own directory.

Secret, ConfigMap, projected (ServiceAccount token, Secret, ConfigMap, downward API) and
downward API volumes are written with their items and modes and kept current; emptyDir is a
fresh directory; hostPath is the host's path itself. Other volume types are refused by name.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
from collections.abc import Callable, Mapping

from sloserve.dev.kubelet import api, atomic_dir, downward, objects, timestamps

_DEFAULT_MODE = 0o644
_DEFAULT_TOKEN_EXPIRATION_S = 3600
# A real kubelet refreshes a projected token once 80% of its lifetime has passed.
_TOKEN_REFRESH_FRACTION = 0.8

Files = dict[str, tuple[bytes, int]]


@dataclasses.dataclass(frozen=True)
class _Token:
    content: bytes
    refresh_at: datetime.datetime


class PodVolumes:
    """The volumes of one pod under `volumes_dir/<volume name>`."""

    def __init__(
        self,
        *,
        client: api.NodeApi,
        facts: downward.PodFacts,
        volumes_dir: pathlib.Path,
        pod_objects: objects.PodObjects,
        node_allocatable: Mapping[str, str],
        clock: Callable[[], datetime.datetime] = timestamps.now,
    ) -> None:
        self._client = client
        self._facts = facts
        self._dir = volumes_dir
        self._objects = pod_objects
        self._allocatable = node_allocatable
        self._clock = clock
        self._tokens: dict[tuple[str, str], _Token] = {}

    @property
    def _pod(self) -> api.JsonObject:
        return self._facts.pod

    async def sync(self) -> dict[str, pathlib.Path]:
        """Writes (or refreshes) every volume; returns each volume's directory by name.
        Raises objects.ConfigError for a missing non-optional source or an unsupported type."""
        paths: dict[str, pathlib.Path] = {}
        for volume in self._pod.get("spec", {}).get("volumes") or []:
            paths[volume["name"]] = await self._sync_volume(volume)
        return paths

    async def _sync_volume(self, volume: api.JsonObject) -> pathlib.Path:
        name: str = volume["name"]
        target = self._dir / name
        if "emptyDir" in volume:
            target.mkdir(parents=True, exist_ok=True)
            return target
        if "hostPath" in volume:
            return pathlib.Path(volume["hostPath"]["path"])
        files: Files
        if "secret" in volume:
            source = volume["secret"]
            files = await self._object_files(
                "secret", source.get("secretName", ""), source, source.get("defaultMode")
            )
        elif "configMap" in volume:
            source = volume["configMap"]
            files = await self._object_files(
                "configmap", source.get("name", ""), source, source.get("defaultMode")
            )
        elif "projected" in volume:
            files = await self._projected_files(name, volume["projected"])
        elif "downwardAPI" in volume:
            source = volume["downwardAPI"]
            files = self._downward_files(source, source.get("defaultMode"))
        else:
            kinds = sorted(key for key in volume if key != "name")
            raise objects.ConfigError(
                f"volume {name!r}: type {', '.join(kinds)} is not supported by the local kubelet "
                "(it supports secret, configMap, projected, downwardAPI, emptyDir and hostPath)"
            )
        atomic_dir.write(target, files)
        return target

    async def _object_files(
        self, kind: str, object_name: str, source: api.JsonObject, default_mode: int | None
    ) -> Files:
        optional = bool(source.get("optional"))
        data = await self._objects.required(kind, object_name, optional=optional) or {}
        mode = _DEFAULT_MODE if default_mode is None else int(default_mode)
        items = source.get("items")
        if not items:
            return {key: (value, mode) for key, value in data.items()}
        files: Files = {}
        for item in items:
            key = item["key"]
            if key not in data:
                if optional:
                    continue
                raise objects.ConfigError(f'key "{key}" not found in {kind} "{object_name}"')
            files[item["path"]] = (data[key], int(item.get("mode", mode)))
        return files

    def _downward_files(self, source: api.JsonObject, default_mode: int | None) -> Files:
        mode = _DEFAULT_MODE if default_mode is None else int(default_mode)
        files: Files = {}
        for item in source.get("items") or []:
            try:
                if "fieldRef" in item:
                    value = downward.field_value(self._facts, item["fieldRef"]["fieldPath"])
                else:
                    reference = item["resourceFieldRef"]
                    container = _container(self._pod, reference.get("containerName", ""))
                    value = downward.resource_value(
                        container=container,
                        resource=reference["resource"],
                        divisor=reference.get("divisor"),
                        node_allocatable=self._allocatable,
                    )
            except downward.FieldError as error:
                raise objects.ConfigError(f"downwardAPI item {item['path']!r}: {error}") from error
            files[item["path"]] = (value.encode(), int(item.get("mode", mode)))
        return files

    async def _projected_files(self, volume_name: str, projected: api.JsonObject) -> Files:
        default_mode = projected.get("defaultMode")
        files: Files = {}
        for source in projected.get("sources") or []:
            if "serviceAccountToken" in source:
                token = source["serviceAccountToken"]
                content = await self._token(volume_name, token)
                mode = _DEFAULT_MODE if default_mode is None else int(default_mode)
                files[token["path"]] = (content, mode)
            elif "secret" in source:
                secret = source["secret"]
                files |= await self._object_files("secret", secret["name"], secret, default_mode)
            elif "configMap" in source:
                config_map = source["configMap"]
                files |= await self._object_files(
                    "configmap", config_map["name"], config_map, default_mode
                )
            elif "downwardAPI" in source:
                files |= self._downward_files(source["downwardAPI"], default_mode)
            else:
                raise objects.ConfigError(
                    f"volume {volume_name!r}: projected source {sorted(source)} is not supported"
                )
        return files

    async def _token(self, volume_name: str, source: api.JsonObject) -> bytes:
        key = (volume_name, source["path"])
        cached = self._tokens.get(key)
        now = self._clock()
        if cached is not None and now < cached.refresh_at:
            return cached.content
        expiration = int(source.get("expirationSeconds", _DEFAULT_TOKEN_EXPIRATION_S))
        metadata = self._pod["metadata"]
        spec: api.JsonObject = {
            "expirationSeconds": expiration,
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": metadata["name"],
                "uid": metadata["uid"],
            },
        }
        if source.get("audience"):
            spec["audiences"] = [source["audience"]]
        account = self._pod["spec"].get("serviceAccountName") or "default"
        path = f"/api/v1/namespaces/{metadata['namespace']}/serviceaccounts/{account}/token"
        try:
            answer = await self._client.create(
                path,
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
            )
        except api.ApiError as error:
            raise objects.ConfigError(
                f"volume {volume_name!r}: token for ServiceAccount {account!r}: {error}"
            ) from error
        lifetime = datetime.timedelta(seconds=expiration * _TOKEN_REFRESH_FRACTION)
        token = _Token(content=answer["status"]["token"].encode(), refresh_at=now + lifetime)
        self._tokens[key] = token
        return token.content


def _container(pod: api.JsonObject, name: str) -> api.JsonObject:
    for container in pod.get("spec", {}).get("containers") or []:
        if container["name"] == name:
            return dict(container)
    raise downward.FieldError(f"containerName {name!r} is not a container of this pod")
