"""Scale from zero: a request for a model without any engine waits for one to start, bounded
by its class's TTFT deadline, and is refused with a reason when the start cannot make it.

The request is counted before it waits (`admission.prepare`), so the autoscaler sees demand for
the model at its next collection and asks for an engine (`ActivatedFromZero`). A request whose
deadline is nearer than the expected start (`scheduling.cold_start_s`) is refused at once: 503
`cold_start`, with the start and the deadline in the message; so is one whose deadline passes
before an engine is ready. Nothing waits longer than its deadline.
"""

from __future__ import annotations

from typing import NoReturn

from sloserve.gateway import errors, runtime
from sloserve.gateway.serving import admission

__all__ = ["COLD_START", "hold_for_engine"]

#: The rejection reason (error code and metrics label) of a request a cold start cannot serve.
COLD_START = "cold_start"


async def hold_for_engine(
    model_runtime: runtime.ModelRuntime, prepared: admission.Prepared, *, cold_start_s: float
) -> None:
    """Return at once when the model has an engine that may take work, or holding is off
    (`cold_start_s` 0: the scheduler refuses with no_engines); else wait for one until the
    request's TTFT deadline. Raises GatewayError 503 `cold_start` when none comes in time."""
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
