"""The kube-scheduler extender: `POST /filter` and `POST /prioritize` for the sloserve scheduler
profile, answered from predicted co-location slowdowns.

- filter: a node is refused when placing the pod there breaks an objective: the pod's predicted
  slowdown exceeds its limit (annotation `placement.sloserve.io/max-predicted-slowdown`, else
  the extender's default), or a GPU workload already on the node would exceed its own limit (its
  annotation; the pod's limit when it declares none). No limit anywhere, no filtering. The reason
  names the engine, the prediction and the limit; the scheduler puts it in the pod's
  `FailedScheduling` event and `PodScheduled` condition, and a pod refused by every node stays
  Pending with it.
- prioritize: 0..10 per node, 10 x exp(-predicted loss): the new engine's log slowdown plus how
  much every resident's log slowdown grows (`NodeAssessment.predicted_loss`). An empty node
  scores 10.

Errors (a bad annotation, the API or Prometheus unreachable) are answered in the protocol's
`Error` field, which makes the scheduler retry the pod later rather than place it blind.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from sloserve.placement.assessor import Assessor
from sloserve.placement.extender_schema import (
    ExtenderArgs,
    ExtenderFilterResult,
    HostPriority,
    NodeList,
)
from sloserve.placement.settings import ExtenderSettings
from sloserve.placement.workloads import max_predicted_slowdown

__all__ = ["AssessorFactory", "create_app"]

_log = logging.getLogger(__name__)


def _assessor(request: Request) -> Assessor:
    assessor: Assessor = request.app.state.assessor
    return assessor


def _settings(request: Request) -> ExtenderSettings:
    settings: ExtenderSettings = request.app.state.settings
    return settings


AssessorDep = Annotated[Assessor, Depends(_assessor)]
SettingsDep = Annotated[ExtenderSettings, Depends(_settings)]


def _pod_name(args: ExtenderArgs) -> str:
    meta = args.pod.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name', '?')}"


async def filter_nodes(
    args: ExtenderArgs, assessor: AssessorDep, settings: SettingsDep
) -> ExtenderFilterResult:
    nodes = args.candidate_nodes()
    try:
        limit = max_predicted_slowdown(args.pod) or settings.default_max_slowdown
        assessments = await assessor.assess(args.pod, nodes)
    except Exception as error:  # every failure must reach the scheduler as a protocol error
        _log.exception("filter for pod %s failed", _pod_name(args))
        return ExtenderFilterResult(error=f"sloserve placement: {type(error).__name__}: {error}")
    failed = {}
    passing = []
    for node, assessment in zip(nodes, assessments, strict=True):
        if assessment.exceeds(limit):
            failed[assessment.node] = assessment.reason(limit)
        else:
            passing.append(node)
    _log.info("filter %s: %d of %d nodes pass", _pod_name(args), len(passing), len(nodes))
    if args.nodes is not None:
        return ExtenderFilterResult(nodes=NodeList(items=passing), failed_nodes=failed)
    names = [str(node["metadata"]["name"]) for node in passing]
    return ExtenderFilterResult(node_names=names, failed_nodes=failed)


async def prioritize_nodes(args: ExtenderArgs, assessor: AssessorDep) -> list[HostPriority]:
    assessments = await assessor.assess(args.pod, args.candidate_nodes())
    return [HostPriority(host=a.node, score=a.score()) for a in assessments]


async def healthz() -> dict[str, str]:
    return {"status": "ok"}


AssessorFactory = Callable[[ExtenderSettings], contextlib.AbstractAsyncContextManager[Assessor]]


def create_app(settings: ExtenderSettings, *, open_assessor: AssessorFactory) -> FastAPI:
    """The extender app. `open_assessor` is entered in the app's lifespan (it loads the model
    and opens clients, and closes them on exit); tests pass one that yields fakes."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        async with open_assessor(settings) as assessor:
            app.state.assessor = assessor
            yield

    app = FastAPI(title="sloserve placement extender", lifespan=lifespan)
    app.post("/filter", response_model_by_alias=True)(filter_nodes)
    app.post("/prioritize", response_model_by_alias=True)(prioritize_nodes)
    app.get("/healthz")(healthz)
    return app
