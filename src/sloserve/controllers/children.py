"""Applying a ModelService's children and telling what that changed.

The plan is the builders' manifests; executing it is one server-side apply per child, through the
context's worker threads. Each change gets one log line and one Event on the ModelService.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import engine_pod, workloads
from sloserve.builders.observed import ChildVersion, DeploymentState, PodState
from sloserve.controllers import indexes, kube_apply
from sloserve.controllers.context import OperatorContext

__all__ = ["Action", "Observed", "apply_children", "observe", "report"]

logger = logging.getLogger("sloserve.operator.children")


class Action(enum.StrEnum):
    """What applying one child did."""

    CREATED = "Created"
    UPDATED = "Updated"
    UNCHANGED = "Unchanged"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observed:
    """A ModelService's children as the indexes hold them, and the GPU products nodes offer."""

    deployment: DeploymentState | None
    versions: Mapping[str, ChildVersion | None]
    """Version of each child by kind; None where it does not exist."""
    pods: tuple[PodState, ...]
    gpu_products: frozenset[str]

    @property
    def missing(self) -> tuple[str, ...]:
        """Kinds of children that do not exist."""
        return tuple(kind for kind, version in self.versions.items() if version is None)


def _one(index: Any, key: indexes.OwnerKey) -> Any:
    store = index.get(key) if index is not None else None
    return next(iter(store), None) if store else None


def observe(found: Mapping[str, Any], key: indexes.OwnerKey) -> Observed:
    """Reads ModelService `key`'s children from kopf's indexes (`found` holds them by index id,
    as handlers receive them). Must run on the event loop, which is what updates the indexes."""
    deployment = _one(found.get(indexes.DEPLOYMENTS), key)
    pods = found.get(indexes.PODS)
    pod_store = pods.get(key) if pods is not None else None
    nodes = found.get(indexes.GPU_NODES)
    return Observed(
        deployment=deployment,
        versions={
            workloads.SERVICE.kind: _one(found.get(indexes.SERVICES), key),
            workloads.DEPLOYMENT.kind: deployment.version if deployment is not None else None,
            workloads.DISRUPTION_BUDGET.kind: _one(found.get(indexes.DISRUPTION_BUDGETS), key),
        },
        pods=tuple(pod_store) if pod_store else (),
        gpu_products=frozenset(nodes.keys()) if nodes is not None else frozenset(),
    )


async def apply_children(
    *,
    context: OperatorContext,
    owner: kopf.Body,
    spec: ModelServiceSpec,
    known: Mapping[str, ChildVersion | None],
    placement: engine_pod.PlacementTemplate | None = None,
) -> list[tuple[kube_apply.Applied, Action]]:
    """Builds the children of `owner` (the engine template carrying `placement`), makes it
    their owner (so Kubernetes garbage-collects them with it), and applies them in order.
    Returns what each apply did, judged against the `known` versions. Raises SpecError for a
    spec that cannot be built and ApiException (or a connection error) for the first apply that
    fails; the ones before it stay applied, which is harmless since applying is idempotent."""
    name = str(owner.metadata.name)
    namespace = str(owner.metadata.namespace)
    manifests = list(
        workloads.build_children(
            name=name,
            namespace=namespace,
            spec=spec,
            defaults=context.defaults,
            placement=placement,
        )
    )
    kopf.adopt(manifests, owner=owner)
    loop = asyncio.get_running_loop()
    outcomes: list[tuple[kube_apply.Applied, Action]] = []
    for manifest in manifests:
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
        before = known.get(applied.kind)
        if applied.created or before is None:
            action = Action.CREATED if applied.created else Action.UPDATED
        elif applied.version.differs_from(before):
            action = Action.UPDATED
        else:
            action = Action.UNCHANGED
        outcomes.append((applied, action))
    return outcomes


def report(
    owner: kopf.Body, outcomes: list[tuple[kube_apply.Applied, Action]], *, generation: int
) -> None:
    """One log line and one Event for what an apply created or changed, e.g. `created Service,
    Deployment and PodDisruptionBudget llama for generation 1` (reason `Created`; `Updated`
    when anything existed before). Nothing when nothing changed. One Event rather than one per
    child: Events are writes too, and 500 ModelServices appearing at once would otherwise cost
    the API server 1,500 of them."""
    changed = [(applied, action) for applied, action in outcomes if action is not Action.UNCHANGED]
    if not changed:
        return
    parts: list[str] = []
    for action in (Action.CREATED, Action.UPDATED):
        kinds = [applied.kind for applied, done in changed if done is action]
        if kinds:
            listed = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
            parts.append(f"{action.value.lower()} {listed}")
    name = changed[0][0].name
    message = f"{'; '.join(parts)} {name} for generation {generation}"
    reason = Action.CREATED if all(a is Action.CREATED for _, a in changed) else Action.UPDATED
    logger.info("ModelService %s/%s: %s", changed[0][0].namespace, owner.metadata.name, message)
    kopf.event(owner, type="Normal", reason=reason.value, message=message)
