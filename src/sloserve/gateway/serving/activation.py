"""Cold starts at admission: capacity that is coming counts.

Scale from zero: a request for a model without any engine waits for one to start, bounded
by its class's TTFT deadline, and is refused with a reason when the start cannot make it.

The request is counted before it waits (`admission.prepare`), so the autoscaler sees demand for
the model at its next collection and asks for an engine (`ActivatedFromZero`). A request whose
deadline is nearer than the expected start (`scheduling.cold_start_s`) is refused at once: 503
`cold_start`, with the start and the deadline in the message; so is one whose deadline passes
before an engine is ready. Nothing waits longer than its deadline.

Engines starting beside ready ones (`admit_to_coming`): a request the TTFT guard refuses on the
ready engines is admitted to an engine the autoscaler asked for that is not ready yet, when that
engine, once ready, can prefill it in time behind what was promised to it already
(`sloserve.scheduling.coming_capacity`); it waits for the engine and is then submitted to the
scheduler again, whose guard decides with the engine's real state. The rest keep the guard's
refusal. The expected start is the model's own, measured by the operator on its pods
(`status.autoscaling.startSeconds`), else `scheduling.cold_start_s`.
"""

from __future__ import annotations

from typing import NoReturn

from sloserve.gateway import errors, runtime
from sloserve.gateway.serving import admission
from sloserve.scheduling import outcomes

__all__ = ["COLD_START", "admit_to_coming", "hold_for_engine"]

#: The rejection reason (error code and metrics label) of a request a cold start cannot serve.
COLD_START = "cold_start"


async def hold_for_engine(
    model_runtime: runtime.ModelRuntime, prepared: admission.Prepared, *, cold_start_s: float
) -> None:
    """Return at once when the model has an engine that may take work, or holding is off (no
    measured start and `cold_start_s` 0: the scheduler refuses with no_engines); else wait for
    one until the request's TTFT deadline. Raises GatewayError 503 `cold_start` when none comes
    in time. The expected start is the model's measured one when known, else `cold_start_s`."""
    measured = model_runtime.record.definition.start_time_s
    if measured is not None and measured > 0:
        cold_start_s = measured
    if cold_start_s <= 0 or model_runtime.engine_snapshots():
        return
    request = prepared.request
    slack_s = request.arrival_s + request.ttft_s - model_runtime.clock.now()
    if cold_start_s > slack_s:
        _refuse(
            prepared,
            f"model {request.model!r} has no engine running; starting one takes about"
            f" {cold_start_s:g} s, beyond the {request.slo_class.name!r} class's TTFT of"
            f" {request.ttft_s:g} s; retry shortly or use a class with a longer TTFT",
            retry_after_s=cold_start_s,
        )
    if not await model_runtime.wait_for_any_engine(timeout_s=slack_s):
        _refuse(
            prepared,
            f"model {request.model!r} has no engine running and none became ready within the"
            f" {request.slo_class.name!r} class's TTFT of {request.ttft_s:g} s; one is starting,"
            " retry shortly",
            retry_after_s=cold_start_s,
        )


async def admit_to_coming(
    model_runtime: runtime.ModelRuntime,
    prepared: admission.Prepared,
    decision: outcomes.Admitted | outcomes.Rejected,
) -> outcomes.Admitted | outcomes.Rejected:
    """`decision`, unless it is the TTFT guard's refusal and an engine that is starting can
    give the request its first token in time: then wait for one more engine (at most until the
    request's deadline) and submit the request again. The guard's refusal stands when no
    starting engine can, or when none is ready by the deadline."""
    if not (
        isinstance(decision, outcomes.Rejected)
        and decision.reason is outcomes.RejectReason.TTFT_UNATTAINABLE
    ):
        return decision
    request = prepared.request
    ready = len(model_runtime.engine_snapshots())
    if model_runtime.promise_coming(request) is None:
        return decision
    slack_s = request.arrival_s + request.ttft_s - model_runtime.clock.now()
    if not await model_runtime.wait_for_more_engines(than=ready, timeout_s=slack_s):
        return decision
    return model_runtime.submit(request)


def _refuse(prepared: admission.Prepared, message: str, *, retry_after_s: float) -> NoReturn:
    prepared.series.rejected(COLD_START).inc()
    raise errors.GatewayError(
        status=503,
        message=message,
        error_type="service_unavailable",
        code=COLD_START,
        headers={"Retry-After": str(max(1, round(retry_after_s)))},
        extra={"slo_class": prepared.request.slo_class.name, "cold_start_s": retry_after_s},
    )
