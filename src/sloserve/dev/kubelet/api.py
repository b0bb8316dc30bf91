"""A small asynchronous Kubernetes API client speaking as one node.

Only what the local kubelet needs: JSON requests and watches. Each node has its own client
certificate (user system:node:<name>), so the API server's Node authorizer and NodeRestriction
admission hold the local kubelet to what a real kubelet may do.
"""

from __future__ import annotations

import json
import pathlib
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

JsonObject = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class ApiError(Exception):
    """The API server refused a request; `status` is the HTTP status code."""

    def __init__(self, *, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status


class NodeApi:
    """JSON over HTTPS to the API server at `server`, authenticated by a client certificate."""

    def __init__(
        self,
        *,
        server: str,
        ca_file: pathlib.Path,
        cert_file: pathlib.Path,
        key_file: pathlib.Path,
    ) -> None:
        context = ssl.create_default_context(cafile=str(ca_file))
        context.load_cert_chain(str(cert_file), str(key_file))
        self._client = httpx.AsyncClient(
            base_url=server, verify=context, timeout=httpx.Timeout(30.0, read=None)
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: JsonObject | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> JsonObject:
        """Sends one request; returns the decoded answer or raises ApiError."""
        content = json.dumps(body).encode() if body is not None else None
        response = await self._client.request(
            method,
            path,
            content=content,
            params=params,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=30.0,
        )
        if response.status_code >= 400:
            raise ApiError(
                status=response.status_code,
                method=method,
                path=path,
                message=_status_message(response),
            )
        decoded: JsonObject = response.json()
        return decoded

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> JsonObject:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: JsonObject) -> JsonObject:
        return await self.request("POST", path, body=body)

    async def replace(self, path: str, body: JsonObject) -> JsonObject:
        return await self.request("PUT", path, body=body)

    async def patch(
        self, path: str, body: JsonObject, *, content_type: str = MERGE_PATCH
    ) -> JsonObject:
        return await self.request("PATCH", path, body=body, content_type=content_type)

    async def delete(self, path: str, body: JsonObject | None = None) -> JsonObject:
        return await self.request("DELETE", path, body=body)

    async def watch(self, path: str, *, params: Mapping[str, str]) -> AsyncIterator[JsonObject]:
        """Yields the watch events ({"type", "object"}) of `path` until the server ends the
        stream. An ERROR event is raised as ApiError (status 410 means: list again)."""
        query = {**params, "watch": "true"}
        async with self._client.stream("GET", path, params=query) as response:
            if response.status_code >= 400:
                await response.aread()
                raise ApiError(
                    status=response.status_code,
                    method="WATCH",
                    path=path,
                    message=_status_message(response),
                )
            async for line in response.aiter_lines():
                if not line:
                    continue
                event: JsonObject = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    raise ApiError(
                        status=int(status.get("code", 500)),
                        method="WATCH",
                        path=path,
                        message=str(status.get("message", "")),
                    )
                yield event


def _status_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text
