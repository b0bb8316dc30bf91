"""Admission at arrival: class, context limit and the scheduler's answer, as the client hears it.

`admit` runs as soon as a generation request is parsed and its model found: it picks the class
(`classify`), refuses a prompt the model's context cannot hold with 400 (`prompt_too_long`, a
client error: no wait would help), and hands the request to the model's scheduler, whose guard
answers at once. A refusal becomes a `GatewayError` (see `rejections` for the statuses and
fields); 403 (`forbidden_class`) and 503 (`draining`) are decided here.

Every request classified here is counted in `sloserve_requests_total` and ends in exactly one of
the rejected or finished counters (see `exchange`).
"""

from __future__ import annotations

from collections.abc import Mapping

from sloserve.gateway import classify, context, errors, metrics, runtime, tenants
from sloserve.gateway.serving import rejections, schemas
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
    reply_headers: dict[str, str],
    arrival_s: float,
) -> tuple[slo.Request, metrics.ClassSeries]:
    """The admitted request and its series; raises GatewayError for every refusal. The request
    takes its id from `reply_headers`, which gain the class once it is known."""
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
    reply_headers[classify.CLASS_HEADER] = choice.slo_class.name
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
        request_id=reply_headers["x-request-id"],
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
        raise rejections.rejection_error(decision)
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
