"""The scheduler's refusals as HTTP answers: 429 for the SLO guards and a full queue, 503 for a
model without engines, 400 for a prompt the model's context cannot hold (a client error: no wait
would help), 502 for a retry after an engine failure that no engine could take in time.

Each message is the same for every refusal of one reason and class, so that clients and load
generators can group them; the numbers behind the decision are fields of their own in `error`
(`predicted_ttft_ms`, `ttft_target_ms`, `tpot_target_ms`, `retry_after_s`, `retry_after_ms`, and
the reason's own, e.g. `queue_limit` or `max_model_len`), and `error.detail` carries the
scheduler's full sentence with them written in.

`Retry-After` is the scheduler's estimate of when a request of the class would fit, in whole
seconds (at least 1); a full queue or missing engines give no estimate, so the shortest honest
wait, 1 s. A TPOT refusal and a too-long prompt carry none: waiting would not help.
"""

from __future__ import annotations

import math

from sloserve.gateway import errors
from sloserve.gateway.serving import exchange
from sloserve.scheduling import outcomes

_REASON_MESSAGES = {
    outcomes.RejectReason.TTFT_UNATTAINABLE: (
        "SLO class {slo_class!r} cannot give this request its first token in time "
        "(error.predicted_ttft_ms exceeds error.ttft_target_ms); retry after Retry-After "
        "seconds or use a class with a looser TTFT"
    ),
    outcomes.RejectReason.TPOT_UNATTAINABLE: (
        "SLO class {slo_class!r}: no engine can produce tokens within its per-token target "
        "(error.tpot_target_ms) even with nothing else running; use a class with a looser TPOT"
    ),
    outcomes.RejectReason.QUEUE_FULL: (
        "SLO class {slo_class!r}: the queue of model {model!r} is full; retry after Retry-After "
        "seconds"
    ),
    outcomes.RejectReason.NO_ENGINES: (
        "model {model!r} has no ready engines; retry once its engines are up"
    ),
    outcomes.RejectReason.PROMPT_TOO_LONG: (
        "model {model!r}: the prompt, with the output asked for, does not fit the context "
        "(error.max_model_len); shorten the prompt or ask for fewer tokens"
    ),
}
_NOT_RETRYABLE = {outcomes.RejectReason.TPOT_UNATTAINABLE, outcomes.RejectReason.PROMPT_TOO_LONG}


def rejection_error(rejection: outcomes.Rejected) -> errors.GatewayError:
    """The answer to a request the scheduler or the context check refused."""
    request = rejection.request
    reason = rejection.reason
    message = _REASON_MESSAGES[reason].format(slo_class=request.slo_class.name, model=request.model)
    if reason is outcomes.RejectReason.PROMPT_TOO_LONG:
        return errors.GatewayError(
            status=400,
            message=message,
            error_type="invalid_request_error",
            code=reason.value,
            # the prompt alone fits: the output asked for is what does not
            param="max_tokens" if _prompt_fits(rejection) else None,
            extra=_numbers(rejection, None),
        )
    retry_after_s: int | None = None
    if reason not in _NOT_RETRYABLE:
        retry_after_s = (
            1 if rejection.retry_after_s is None else max(1, math.ceil(rejection.retry_after_s))
        )
    status = 503 if reason is outcomes.RejectReason.NO_ENGINES else 429
    return errors.GatewayError(
        status=status,
        message=message,
        error_type="slo_rejected" if status == 429 else "service_unavailable",
        code=reason.value,
        headers={} if retry_after_s is None else {"Retry-After": str(retry_after_s)},
        extra=_numbers(rejection, retry_after_s),
    )


def rejected_while_waiting(
    current: exchange.Exchange, rejection: outcomes.Rejected, *, after_engine_failure: bool
) -> errors.GatewayError:
    """A refusal after admission: a TTFT re-check in the queue, or a retry the scheduler could
    not place in time after an engine failed (then the client hears that the engine failed).
    Ends the request's bookkeeping."""
    if after_engine_failure:
        current.end_rejected("engine_failed")
        return errors.GatewayError(
            status=502,
            message="the engine serving this request failed and no other engine can take it "
            "in time; retry the request",
            error_type="engine_failed",
            code="engine_failed",
            extra=_numbers(rejection, None),
        )
    current.end_rejected(rejection.reason.value)
    return rejection_error(rejection)


def _numbers(rejection: outcomes.Rejected, retry_after_s: int | None) -> dict[str, object]:
    request = rejection.request
    numbers: dict[str, object] = {
        "slo_class": request.slo_class.name,
        "ttft_target_ms": round(request.ttft_s * 1000.0, 1),
        "tpot_target_ms": round(request.tpot_s * 1000.0, 1),
        "predicted_ttft_ms": (
            None
            if rejection.predicted_ttft_s is None
            else round(rejection.predicted_ttft_s * 1000.0, 1)
        ),
        "detail": rejection.message,
    }
    numbers.update(rejection.details)
    if retry_after_s is not None:
        numbers["retry_after_s"] = retry_after_s
    if rejection.retry_after_s is not None:
        numbers["retry_after_ms"] = round(rejection.retry_after_s * 1000.0, 1)
    return numbers


def _prompt_fits(rejection: outcomes.Rejected) -> bool:
    details = rejection.details
    return int(details.get("prompt_tokens", 0)) < int(details.get("max_model_len", 0))
