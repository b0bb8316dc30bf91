"""Reading the Secrets and ConfigMaps a pod refers to."""

from __future__ import annotations

import base64

from sloserve.dev.kubelet import api


class ConfigError(Exception):
    """A container cannot be configured (a missing Secret key, an unsupported field...); the
    container waits with reason CreateContainerConfigError and this message."""


class PodObjects:
    """Secrets and ConfigMaps of one namespace, as raw bytes per key."""

    def __init__(self, client: api.NodeApi, *, namespace: str) -> None:
        self._client = client
        self._namespace = namespace

    async def secret(self, name: str) -> dict[str, bytes] | None:
        """The Secret's data, or None when it does not exist."""
        found = await self._get(f"/api/v1/namespaces/{self._namespace}/secrets/{name}")
        if found is None:
            return None
        return {key: base64.b64decode(value) for key, value in (found.get("data") or {}).items()}

    async def config_map(self, name: str) -> dict[str, bytes] | None:
        """The ConfigMap's data and binaryData, or None when it does not exist."""
        found = await self._get(f"/api/v1/namespaces/{self._namespace}/configmaps/{name}")
        if found is None:
            return None
        data = {key: value.encode() for key, value in (found.get("data") or {}).items()}
        for key, value in (found.get("binaryData") or {}).items():
            data[key] = base64.b64decode(value)
        return data

    async def _get(self, path: str) -> api.JsonObject | None:
        try:
            return await self._client.get(path)
        except api.ApiError as error:
            if error.status == 404:
                return None
            raise

    async def required(self, kind: str, name: str, *, optional: bool) -> dict[str, bytes] | None:
        """A Secret's or ConfigMap's data; None when it is missing and `optional`, else
        ConfigError naming it."""
        data = await (self.secret(name) if kind == "secret" else self.config_map(name))
        if data is None and not optional:
            raise ConfigError(f'{kind} "{name}" not found in namespace {self._namespace}')
        return data
