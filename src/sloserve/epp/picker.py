"""Choosing the endpoint of a request: the gateway's admission and scheduling, behind a proxy.

A generation request (`POST /v1/completions`, `POST /v1/chat/completions`) is admitted exactly as
the gateway admits it (`gateway.serving.admission`: body, model, class, tenant, the scheduler's
guards) and waits in the same least-deadline-first queue until the scheduler dispatches it; the
engine it is dispatched to is the pick. Its tenant is the one its API key names, or, when the
picker is told to trust it, the one the proxy names in `x-gateway-inference-fairness-id` (a proxy
that authenticates callers itself).

Other requests a proxy sends through the picker (`GET /v1/models`, tokenizer calls) are not
scheduled: they go to the engine of their model (of any model, without one) with the fewest
requests in flight.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass

from sloserve.epp import endpoints, lanes, protocol
from sloserve.gateway import (
    datastore,
    errors,
    lifecycle,
    metrics,
    runtime,
    runtimes,
    settings,
    tenant_source,
    tenants,
)
from sloserve.gateway.serving import admission, exchange
from sloserve.gateway.serving import rejections as refusals
from sloserve.scheduling import rejections

_GENERATION: dict[str, admission.Endpoint] = {
    path: endpoint for endpoint, path in admission.PATHS.items()
}


@dataclass(frozen=True)
class Admitted:
    """A request in the scheduler, waiting for its engine."""

    current: exchange.Exchange
    holder: runtime.ModelRuntime
    """The runtime whose scheduler holds the request (the model's, or a lane's)."""


@dataclass(frozen=True)
class Pick:
    """Where a request goes. `current` is None for requests that are not scheduled."""

    endpoint: str
    engine_url: str
    current: exchange.Exchange | None = None
    holder: runtime.ModelRuntime | None = None


class Picker:
    """Admission, queueing and the pick, for every stream of the process."""

    def __init__(
        self,
        *,
        store: datastore.Datastore,
        model_runtimes: runtimes.Runtimes,
        subset_lanes: lanes.SubsetLanes,
        tenant_file: tenant_source.TenantSource,
        gateway_metrics: metrics.GatewayMetrics,
        scheduling: settings.SchedulingSettings,
        picker_lifecycle: lifecycle.Lifecycle,
        clock: runtime.MonotonicClock,
        trust_fairness_id: bool,
    ) -> None:
        self.store = store
        self.runtimes = model_runtimes
        self.lanes = subset_lanes
        self.tenant_file = tenant_file
        self.metrics = gateway_metrics
        self.lifecycle = picker_lifecycle
        self.clock = clock
        self._scheduling = scheduling
        self._trust_fairness_id = trust_fairness_id

    @staticmethod
    def schedules(headers: Mapping[str, str]) -> bool:
        """Whether the request is a generation request, which the scheduler decides."""
        return headers.get(":method", "POST") == "POST" and _path(headers) in _GENERATION

    def admit(
        self,
        *,
        headers: Mapping[str, str],
        body: bytes,
        arrival_s: float,
        subset: tuple[str, ...] | None,
    ) -> Admitted:
        """Admit a generation request to its scheduler; raises GatewayError for every refusal
        the gateway would make (400, 401, 403, 404, 429, 503)."""
        parsed = admission.parse_body(_GENERATION[_path(headers)], body)
        tenant = self._tenant(headers)
        model_runtime = admission.runtime_for(self.runtimes, self.store, parsed.model)
        prepared = admission.prepare(
            request_id=admission.new_request_id(),
            parsed=parsed,
            headers=headers,
            tenant=tenant,
            model_runtime=model_runtime,
            gateway_metrics=self.metrics,
            scheduling=self._scheduling,
            arrival_s=arrival_s,
            draining=self.lifecycle.draining,
        )
        engines = frozenset(model_runtime.record.engines)
        if subset is not None:
            engines = endpoints.allowed(engines, subset)
        if not engines:
            # Nothing the data plane allows can serve it: the protocol's 503, in the gateway's
            # words for a model without engines.
            admission.refuse(
                prepared, rejections.no_engines(prepared.request, now_s=self.clock.now())
            )
        holder = self.lanes.runtime_for(model_runtime, engines)
        current = admission.admitted(prepared, holder.submit(prepared.request), held_by=holder)
        return Admitted(current=current, holder=holder)

    async def dispatched(self, admitted: Admitted) -> Pick:
        """Wait for the scheduler to dispatch the request. Raises GatewayError when it rejects
        the request while it waits (429); a cancelled wait ends the request as cancelled."""
        current = admitted.current
        request = current.request
        try:
            dispatch = await admitted.holder.wait_for_engine(request.request_id)
        except runtime.RequestRejectedError as rejected:
            raise refusals.rejected_while_waiting(
                current, rejected.rejection, after_engine_failure=False
            ) from rejected
        except asyncio.CancelledError:
            current.end_cancelled()
            raise
        current.series.queue_time.observe(dispatch.at_s - request.arrival_s)
        return Pick(
            endpoint=endpoints.endpoint_of(dispatch.engine_id),
            engine_url=dispatch.engine_id,
            current=current,
            holder=admitted.holder,
        )

    def unscheduled(
        self, *, headers: Mapping[str, str], body: bytes, subset: tuple[str, ...] | None
    ) -> Pick:
        """The engine for a request the scheduler does not decide (see the module docstring);
        raises GatewayError 503 when no allowed engine is ready."""
        model = _model_named(body)
        candidates: list[tuple[int, str]] = []
        for model_runtime in self.runtimes.all():
            if model is not None and model_runtime.record.model != model:
                continue
            allowed = set(model_runtime.record.engines)
            if subset is not None:
                allowed = set(endpoints.allowed(allowed, subset))
            candidates.extend(
                (ledger.inflight, url)
                for url, ledger in model_runtime.ledgers.items()
                if url in allowed and ledger.healthy()
            )
        if not candidates:
            raise errors.GatewayError(
                status=503,
                message="no ready engine can take this request"
                + (f" for model {model!r}" if model is not None else ""),
                error_type="service_unavailable",
                code="no_engines",
            )
        _, url = min(candidates)
        return Pick(endpoint=endpoints.endpoint_of(url), engine_url=url)

    def withheld_headers(self) -> tuple[str, ...]:
        """Request headers the engines must not see: the API key, once it is the picker's to
        check (the gateway never forwards it either)."""
        return ("authorization",) if self.tenant_file.book.keys_configured else ()

    def _tenant(self, headers: Mapping[str, str]) -> tenants.Tenant:
        book = self.tenant_file.book
        named = headers.get(protocol.FAIRNESS_HEADER, "").strip()
        if self._trust_fairness_id and named:
            return book.identify_by_name(named, header=protocol.FAIRNESS_HEADER)
        return book.identify(headers.get("authorization"))


def _path(headers: Mapping[str, str]) -> str:
    return headers.get(":path", "").split("?", 1)[0]


def _model_named(body: bytes) -> str | None:
    if not body:
        return None
    try:
        model = json.loads(body).get("model")
    except (ValueError, AttributeError):
        return None
    return model if isinstance(model, str) and model else None
