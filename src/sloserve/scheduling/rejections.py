"""`Rejected` records, worded for the client who receives them.

Every message names the SLO class and the numbers behind the decision, so the sentence alone
tells the reader what to change (a looser class, a shorter prompt, or a later retry). The
numbers are fields of the record as well (`predicted_ttft_s`, `retry_after_s`, `details`), for
the gateway's answers, whose messages stay the same for every rejection of one reason and class.
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
        details={"slack_ms": round(max(slack_s, 0.0) * 1e3, 1)},
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
        details={"tpot_target_ms": round(request.tpot_s * 1e3, 1)},
    )


def queue_full(
    request: slo.Request, *, max_queue: int, per_class: bool, now_s: float
) -> outcomes.Rejected:
    """The waiting queue already holds `max_queue` requests: of the request's class when
    `per_class`, else of its model."""
    scope = "this class's queue" if per_class else "the queue"
    message = (
        f"SLO class {request.slo_class.name!r}: {scope} for model {request.model!r} is full "
        f"({max_queue} requests waiting); retry later"
    )
    return outcomes.Rejected(
        request=request,
        reason=outcomes.RejectReason.QUEUE_FULL,
        message=message,
        at_s=now_s,
        details={"queue_limit": max_queue, "queue_scope": "class" if per_class else "model"},
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
