"""What the handlers share: the operator-wide context, and what the operator remembers per
ModelService between handler calls (kopf gives every object its own copy of the memo)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubernetes import client

from sloserve.api.spec import ModelServiceSpec
from sloserve.api.status import ModelServiceStatus, PodPlacement
from sloserve.builders.defaults import EngineDefaults
from sloserve.builders.status import ReconcileFailure
from sloserve.controllers.profiles import ProfileBook
from sloserve.controllers.retries import RetryPolicy
from sloserve.controllers.slo_figures import FigureBoard
from sloserve.placement.assessor import Assessor

if TYPE_CHECKING:
    # Only named here: that module reads the context's other parts.
    from sloserve.controllers.inference_pools import PoolRuntime

__all__ = [
    "ObjectState",
    "OperatorContext",
    "PlacementAttempt",
    "PlacementRuntime",
    "context_of",
    "state_of",
]

_CONTEXT_KEY = "context"
_STATE_KEY = "state"


class PlacementRuntime:
    """Interference-aware placement: the workload kinds the solo catalogue has measured, known
    from start-up, and the assessor, loaded at the first prediction.

    The assessor holds the interference predictor, an onnxruntime session of about 160 MB (the
    packaged tree ensemble), more than the operator needs for everything else. Only ModelServices
    with `spec.placement.interferenceAware` predict (when an engine pod lands on a node, and for
    preferred node affinity without the sloserve scheduler), so an operator without one never
    pays for it. Once loaded it is kept: predictions come in bursts (engines created, scaled,
    rescheduled) and loading takes a second or two.
    """

    def __init__(self, *, known_kinds: tuple[str, ...], load: Callable[[], Assessor]) -> None:
        """`load` builds the assessor; it blocks (it reads and compiles the model), so it runs
        on a thread of its own, once."""
        self.known_kinds = known_kinds
        self._load = load
        self._assessor: Assessor | None = None
        self._loading = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the assessor (and with it the predictor) is in memory."""
        return self._assessor is not None

    async def assessor(self) -> Assessor:
        """The assessor, loaded on the first call; concurrent first calls load it once. A failed
        load raises and is tried again by the next call."""
        if self._assessor is None:
            async with self._loading:
                if self._assessor is None:
                    self._assessor = await asyncio.to_thread(self._load)
        return self._assessor


@dataclasses.dataclass(frozen=True, kw_only=True)
class OperatorContext:
    """Built once at start-up and shared by every handler.

    Attributes:
        api: the Kubernetes client (blocking; called only from `executor`).
        executor: threads that make the blocking API calls, bounding how many run at once.
        defaults: the engine choices the spec does not make.
        field_manager: the server-side apply field manager.
        retries: backoff of failed reconciles.
        request_timeout_s: seconds one API request may take.
        placement: interference-aware placement; None when it is turned off.
        slo: the latest per-class SLO figures; None when no source is set.
        inference_pools: InferencePools for the Gateway API inference extension; None when the
            operator does not create them.
        profiles: the latency profiles `engine.profile` may name.
    """

    api: client.ApiClient
    executor: concurrent.futures.Executor
    defaults: EngineDefaults
    field_manager: str
    retries: RetryPolicy
    request_timeout_s: float
    placement: PlacementRuntime | None = None
    slo: FigureBoard | None = None
    inference_pools: PoolRuntime | None = None
    profiles: ProfileBook = dataclasses.field(default_factory=ProfileBook)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlacementAttempt:
    """A failed prediction of a pod's slowdown on its node, to be tried again.

    Attributes:
        failures: how many attempts have failed in a row.
        retry_at: when (monotonic seconds) the next attempt may run.
    """

    failures: int
    retry_at: float


@dataclasses.dataclass
class ObjectState:
    """What the operator remembers about one ModelService while it runs; lost on restart, when
    the resume handler rebuilds it.

    Attributes:
        lock: serializes applying children and writing status for this object, so that a
            status refresh never interleaves with a reconcile.
        applied_generation: the generation whose children were last applied successfully.
        applied_at: when (monotonic seconds) children were last applied.
        failure: why the last apply failed, until one succeeds.
        reported: the status last computed, to post an Event only when a condition changes.
        spec: the spec last parsed, with its generation.
        inputs: what the status was last computed from; the same inputs give the same status,
            so a refresh that sees them again does nothing.
        placements: predicted placements by `(pod, node)`, until the status holds them.
        placement_attempts: `(pod, node)` pairs whose prediction failed, with when to try
            again (backing off exponentially).
        preferred_affinity: the engines' preferred node affinity without the sloserve
            scheduler, as last computed.
        affinity_replicas: the `spec.replicas` it was computed for.
        slo_sequence: the sequence of the SLO figures last written into the status.
    """

    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    applied_generation: int | None = None
    applied_at: float = -math.inf
    failure: ReconcileFailure | None = None
    reported: ModelServiceStatus | None = None
    spec: tuple[int, ModelServiceSpec] | None = None
    inputs: tuple[object, ...] | None = None
    placements: dict[tuple[str, str], PodPlacement] = dataclasses.field(default_factory=dict)
    placement_attempts: dict[tuple[str, str], PlacementAttempt] = dataclasses.field(
        default_factory=dict
    )
    preferred_affinity: dict[str, Any] | None = None
    affinity_replicas: int | None = None
    slo_sequence: int | None = None


def context_of(memo: Any) -> OperatorContext:
    """The operator context carried in kopf's memo."""
    context = memo[_CONTEXT_KEY]
    if not isinstance(context, OperatorContext):
        raise TypeError("the operator memo carries no OperatorContext; start via sloserve.operator")
    return context


def state_of(memo: Any) -> ObjectState:
    """This object's state in its own copy of kopf's memo, created on first use."""
    state = memo.get(_STATE_KEY)
    if state is None:
        state = ObjectState()
        memo[_STATE_KEY] = state
    if not isinstance(state, ObjectState):
        raise TypeError(f"memo[{_STATE_KEY!r}] is not an ObjectState")
    return state
