"""InferencePools for ModelServices, when the operator is told to make them and the cluster
serves the Gateway API inference extension's API (`inference.networking.k8s.io/v1`).

Whether the API is installed is asked of the API server's discovery and remembered for a while,
so that a CRD installed after the operator started is noticed without a restart. Each
ModelService's pool is applied (server-side, owned by the ModelService, so it goes with it) on
every reconcile, and by the status refresh for a generation whose pool is not applied yet: a
pool whose CRD arrived late, or whose apply failed, appears on the next refresh. A pool the API
server refuses fails the reconcile like any other child; while the API is absent nothing is
attempted and nothing fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from typing import Any

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import inference_pool
from sloserve.controllers import kube_apply, reading
from sloserve.controllers.context import OperatorContext

__all__ = ["PoolRuntime", "apply_pool", "ensure_pool"]

logger = logging.getLogger("sloserve.operator.inference_pools")

_GROUP, _VERSION = inference_pool.INFERENCE_POOL.api_version.split("/")
_MEMO_KEY = "inference-pool-generation"
_NOT_FOUND = 404


@dataclasses.dataclass
class PoolRuntime:
    """The operator's pool options and what it knows of the API.

    Attributes:
        options: how pools reach the endpoint picker.
        recheck_s: how long an answer about the API's presence is trusted.
    """

    options: inference_pool.PoolOptions
    recheck_s: float = 60.0
    _installed: bool | None = dataclasses.field(default=None, init=False)
    _checked_at: float = dataclasses.field(default=-float("inf"), init=False)

    def installed(self, api: client.ApiClient) -> bool:
        """Whether the API server serves InferencePools (blocking: call it from a worker)."""
        now = time.monotonic()
        if self._installed is not None and now - self._checked_at < self.recheck_s:
            return self._installed
        try:
            resources = client.CustomObjectsApi(api).get_api_resources(_GROUP, _VERSION)
            found = any(
                resource.name == inference_pool.INFERENCE_POOL.plural
                for resource in resources.resources or []
            )
        except ApiException as error:
            if error.status != _NOT_FOUND:
                raise
            found = False
        if found != self._installed:
            logger.info(
                "the API server %s InferencePools (%s/%s)%s",
                "serves" if found else "does not serve",
                _GROUP,
                _VERSION,
                "; creating one per ModelService" if found else "; none are created",
            )
        self._installed, self._checked_at = found, now
        return found

    def forget(self) -> None:
        """The API answered 404 for a pool: look it up again at the next apply."""
        self._installed = None


async def apply_pool(
    *,
    context: OperatorContext,
    owner: kopf.Body,
    spec: ModelServiceSpec,
    memo: Any,
    generation: int,
) -> kube_apply.Applied | None:
    """Apply the ModelService's InferencePool when pools are on and the API is installed;
    None otherwise. Raises ApiException when the API server refuses it."""
    pools = context.inference_pools
    if pools is None:
        return None
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(context.executor, pools.installed, context.api):
        return None
    manifest = inference_pool.build_inference_pool(
        name=str(owner.metadata.name),
        namespace=str(owner.metadata.namespace),
        spec=spec,
        options=pools.options,
    )
    kopf.adopt(manifest, owner=owner)
    try:
        applied = await loop.run_in_executor(
            context.executor,
            functools.partial(
                kube_apply.server_side_apply,
                context.api,
                manifest,
                field_manager=context.field_manager,
                timeout_s=context.request_timeout_s,
            ),
        )
    except ApiException as error:
        if error.status == _NOT_FOUND:
            pools.forget()
            return None
        raise
    memo[_MEMO_KEY] = generation
    return applied


async def ensure_pool(
    *,
    context: OperatorContext,
    owner: kopf.Body,
    spec: ModelServiceSpec,
    memo: Any,
    generation: int,
) -> None:
    """Apply the pool if this generation's is not applied yet (the status refresh's part); a
    failure is logged and tried again at the next refresh."""
    if context.inference_pools is None or memo.get(_MEMO_KEY) == generation:
        return
    try:
        applied = await apply_pool(
            context=context, owner=owner, spec=spec, memo=memo, generation=generation
        )
    except Exception as error:
        logger.warning(
            "ModelService %s/%s: applying its InferencePool failed, retrying at the next "
            "refresh: %s",
            owner.metadata.namespace,
            owner.metadata.name,
            reading.failure_message(error),
        )
        return
    if applied is not None and applied.created:
        message = f"created InferencePool {applied.name} for generation {generation}"
        logger.info("ModelService %s/%s: %s", applied.namespace, owner.metadata.name, message)
        kopf.event(owner, type="Normal", reason="Created", message=message)
