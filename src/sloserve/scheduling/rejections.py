"""`Rejected` records, worded for the client who receives them.

Every message names the SLO class and the numbers behind the decision, so a 429 body tells the
client what to change (a looser class, a shorter prompt, or a later retry).
"""

from sloserve.scheduling import outcomes, slo


def ttft_unattainable(
    request: slo.Request, *, predicted_ttft_s: float, now_s: float
) -> outcomes.Rejected:
    """The predicted TTFT exceeds the request's slack. `retry_after_s` is how much the backlog
    must shrink before a fresh request of the same class is predicted to fit."""
    slack_s = request.slack_s(now_s)
    message = (
        f"SLO class {request.slo_class.name!r}: predicted time to first token "
        f"{predicted_ttft_s * 1e3:.0f} ms exceeds the {max(slack_s, 0.0) * 1e3:.0f} ms left of "
        f"its {request.ttft_s * 1e3:.0f} ms target; retry later or use a class with a looser TTFT"
    )
    return outcomes.Rejected(
        request=request,
        reason=outcomes.RejectReason.TTFT_UNATTAINABLE,
        message=message,
        at_s=now_s,
        predicted_ttft_s=predicted_ttft_s,
        retry_after_s=max(predicted_ttft_s - request.ttft_s, 0.0),
    )


def tpot_unattainable(request: slo.Request, *, now_s: float) -> outcomes.Rejected:
    """No engine meets the request's TPOT target even with nothing else running."""
    message = (
        f"SLO class {request.slo_class.name!r}: no engine can produce tokens within its "
        f"{request.tpot_s * 1e3:.0f} ms per-token target even with nothing else running; "
        "use a class with a looser TPOT"
    )
    return outcomes.Rejected(
        request=request,
        reason=outcomes.RejectReason.TPOT_UNATTAINABLE,
        message=message,
        at_s=now_s,
    )


def queue_full(request: slo.Request, *, max_queue: int, now_s: float) -> outcomes.Rejected:
    """The waiting queue already holds `max_queue` requests."""
    message = (
        f"SLO class {request.slo_class.name!r}: the queue for model {request.model!r} is full "
        f"({max_queue} requests waiting); retry later"
    )
    return outcomes.Rejected(
        request=request, reason=outcomes.RejectReason.QUEUE_FULL, message=message, at_s=now_s
    )


def no_engines(request: slo.Request, *, now_s: float) -> outcomes.Rejected:
    """The model has no engines to run on."""
    message = (
        f"SLO class {request.slo_class.name!r}: model {request.model!r} has no ready engines; "
        "retry once its engines are up"
    )
    return outcomes.Rejected(
        request=request, reason=outcomes.RejectReason.NO_ENGINES, message=message, at_s=now_s
    )
