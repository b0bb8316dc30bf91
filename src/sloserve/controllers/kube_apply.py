"""Server-side apply of the operator's manifests: one idempotent request per object that creates
it or brings it to the desired state, and removes the fields the operator no longer sends."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from sloserve.builders import inference_pool, workloads
from sloserve.builders.defaults import Manifest
from sloserve.builders.observed import ChildVersion

__all__ = ["Applied", "api_error_message", "object_path", "server_side_apply"]

_PLURALS = {
    kind.kind: kind.plural for kind in (*workloads.CHILD_KINDS, inference_pool.INFERENCE_POOL)
}
_CREATED = 201


@dataclasses.dataclass(frozen=True, kw_only=True)
class Applied:
    """The outcome of applying one manifest."""

    kind: str
    name: str
    namespace: str
    created: bool
    version: ChildVersion


def object_path(manifest: Manifest) -> str:
    """The API path of a namespaced manifest of a kind the operator creates."""
    api_version: str = manifest["apiVersion"]
    kind: str = manifest["kind"]
    metadata: dict[str, Any] = manifest["metadata"]
    plural = _PLURALS.get(kind)
    if plural is None:
        raise ValueError(f"the operator does not apply objects of kind {kind}")
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{root}/namespaces/{metadata['namespace']}/{plural}/{metadata['name']}"


def server_side_apply(
    api: client.ApiClient, manifest: Manifest, *, field_manager: str, timeout_s: float
) -> Applied:
    """Applies `manifest` as `field_manager`, taking over fields others set (force), and reports
    whether the object was created. Blocking. Raises ApiException on any API error."""
    method, url, headers, body, _ = api.param_serialize(
        method="PATCH",
        resource_path=object_path(manifest),
        query_params=[("fieldManager", field_manager), ("force", "true")],
        header_params={
            "Content-Type": "application/apply-patch+yaml",
            "Accept": "application/json",
        },
        # JSON is YAML; sent as text so that the client does not re-encode it.
        body=json.dumps(manifest),
        auth_settings=["BearerToken"],
    )
    response = api.call_api(
        method, url, header_params=headers, body=body, _request_timeout=timeout_s
    )
    data: bytes = response.read()  # type: ignore[no-untyped-call]
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(
            http_resp=response, body=data.decode("utf-8", "replace"), data=None
        )
    applied = json.loads(data)
    return Applied(
        kind=manifest["kind"],
        name=manifest["metadata"]["name"],
        namespace=manifest["metadata"]["namespace"],
        created=response.status == _CREATED,
        version=ChildVersion.from_body(applied),
    )


def api_error_message(error: ApiException) -> str:
    """The API server's own message for a failed request (its Status object's `message`), else
    the HTTP status and reason."""
    try:
        status = json.loads(error.body) if error.body else {}
    except ValueError:
        status = {}
    message = status.get("message") if isinstance(status, dict) else None
    return str(message) if message else f"HTTP {error.status} {error.reason}"
