"""Admission at arrival: class, context limit and the scheduler's answer, as the client hears it.

`admit` runs as soon as a generation request is parsed and its model found: it picks the class
(`classify`), refuses a prompt the model's context cannot hold with 400 (`prompt_too_long`, a
client error: no wait would help), and hands the request to the model's scheduler, whose guard
answers at once. A refusal becomes a `GatewayError`:

- 429 (`ttft_unattainable`, `tpot_unattainable`, `queue_full`) with `Retry-After` in whole
  seconds from the scheduler's own estimate of when a request of the class would fit (at least
  1), and the numbers behind the decision as fields of `error` (`slo_class`,
  `predicted_ttft_ms`, `ttft_target_ms`, `retry_after_ms`, the reason's own details); the
  message is the same for every refusal of one reason and class, so that clients can group them;
- 503 (`no_engines`, `draining`);
- 400 (`prompt_too_long`), 403 (`forbidden_class`).

Every request classified here is counted in `sloserve_requests_total` and ends in exactly one of
the rejected or finished counters (see `exchange`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from sloserve.gateway import classify, context, errors, metrics, runtime, schemas, tenants
from sloserve.scheduling import context_length, outcomes, slo

# Text prompts are counted from their characters: the limit is applied to a count no tokenizer
# would go below (twice the characters per token of the estimate), so that an estimate never
# refuses a prompt that fits; the engine itself refuses the rest.
_LOWER_BOUND_FACTOR = 2.0


def admit(
    ctx: context.GatewayContext,
    *,
    headers: Mapping[str, str],
    tenant: tenants.Tenant,
    model_runtime: runtime.ModelRuntime,
    parsed: schemas.ChatCompletionRequest | schemas.CompletionRequest,
    request_id: str,
    arrival_s: float,
) -> tuple[slo.Request, metrics.ClassSeries]:
    """The admitted request and its series; raises GatewayError for every refusal."""
    record = model_runtime.record
    try:
        choice = classify.choose_class(
            headers=headers, tenant=tenant, model=record.definition.classes
        )
    except errors.GatewayError as error:
        if error.code == "forbidden_class":
            labels = record.labels.with_class(str(error.extra["slo_class"]))
            ctx.metrics.requests.labels(*labels).inc()
            ctx.metrics.rejected.labels(*labels, "forbidden_class").inc()
        raise
    series = ctx.metrics.series(record.labels.with_class(choice.slo_class.name))
    series.requests.inc()
    if ctx.lifecycle.draining:
        series.rejected("draining").inc()
        raise errors.GatewayError(
            status=503,
            message="the gateway is shutting down; retry on another replica",
            error_type="service_unavailable",
            code="draining",
            headers={"Retry-After": "1"},
        )
    scheduling = ctx.settings.scheduling
    request = slo.Request(
        request_id=request_id,
        model=record.model,
        slo_class=choice.slo_class,
        arrival_s=arrival_s,
        prompt_tokens=parsed.prompt_tokens(chars_per_token=scheduling.chars_per_token),
        max_tokens=parsed.output_budget() or scheduling.default_max_tokens,
        ttft_target_s=choice.ttft_target_s,
        tpot_target_s=choice.tpot_target_s,
        session_id=classify.session_of(headers),
    )
    too_long = _context_check(
        model_runtime, parsed, request, chars_per_token=scheduling.chars_per_token
    )
    decision = too_long or model_runtime.submit(request)
    if isinstance(decision, outcomes.Rejected):
        series.rejected(decision.reason.value).inc()
        raise rejection_error(decision)
    series.admitted.inc()
    return request, series


def _context_check(
    model_runtime: runtime.ModelRuntime,
    parsed: schemas.ChatCompletionRequest | schemas.CompletionRequest,
    request: slo.Request,
    *,
    chars_per_token: float,
) -> outcomes.Rejected | None:
    max_model_len = model_runtime.max_model_len()
    if max_model_len is None:
        return None
    exact = parsed.exact_prompt_tokens()
    counted = (
        exact
        if exact is not None
        else parsed.prompt_tokens(chars_per_token=chars_per_token * _LOWER_BOUND_FACTOR)
    )
    return context_length.prompt_too_long(
        request,
        prompt_tokens=counted,
        requested_output_tokens=parsed.output_budget(),
        max_model_len=max_model_len,
        now_s=request.arrival_s,
    )


def _prompt_fits(rejection: outcomes.Rejected) -> bool:
    details = rejection.details
    return int(details.get("prompt_tokens", 0)) < int(details.get("max_model_len", 0))


def rejection_error(rejection: outcomes.Rejected) -> errors.GatewayError:
    """The client's answer to a rejection by the scheduler or the context check."""
    request = rejection.request
    extra: dict[str, object] = {"slo_class": request.slo_class.name}
    extra["ttft_target_ms"] = round(request.ttft_s * 1000.0, 1)
    if rejection.predicted_ttft_s is not None:
        extra["predicted_ttft_ms"] = round(rejection.predicted_ttft_s * 1000.0, 1)
    extra.update(rejection.details)
    reason = rejection.reason
    if reason is outcomes.RejectReason.PROMPT_TOO_LONG:
        return errors.GatewayError(
            status=400,
            message=rejection.message,
            error_type="invalid_request_error",
            code=reason.value,
            # the prompt alone fits: the output asked for is what does not
            param="max_tokens" if _prompt_fits(rejection) else None,
            extra=extra,
        )
    headers: dict[str, str] = {}
    if rejection.retry_after_s is not None:
        extra["retry_after_ms"] = round(rejection.retry_after_s * 1000.0, 1)
        headers["Retry-After"] = str(max(1, math.ceil(rejection.retry_after_s)))
    elif reason is not outcomes.RejectReason.TPOT_UNATTAINABLE:
        # a full queue or missing engines: no estimate, so the shortest honest wait
        headers["Retry-After"] = "1"
    status = 503 if reason is outcomes.RejectReason.NO_ENGINES else 429
    return errors.GatewayError(
        status=status,
        message=rejection.message,
        error_type="slo_rejected" if status == 429 else "service_unavailable",
        code=reason.value,
        headers=headers,
        extra=extra,
    )
