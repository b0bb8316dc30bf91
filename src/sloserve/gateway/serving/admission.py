"""Admission of a generation request, the same wherever it arrives: the gateway's OpenAI
endpoints or the endpoint picker behind another gateway (`sloserve.epp`).

In order: the body is checked (400), the model found (404, or 503 when it cannot be scheduled),
the class chosen from the headers and the tenant (400, 403), the request counted, refused while
draining (503), and handed to the scheduler as an `slo.Request`; a rejection becomes the error
the client gets (`rejections`: 429 with `Retry-After`, or 503 without engines). A prompt the
model's context cannot hold is refused here with 400 (`prompt_too_long`, a client error: no wait
would help), before any scheduler sees it. Callers stamp
the arrival and name the request first, identify the tenant, and submit the prepared request
themselves, so that the endpoint picker can submit to the scheduler of the endpoints a gateway
allows.
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NoReturn

import pydantic

from sloserve.gateway import (
    classify,
    datastore,
    errors,
    metrics,
    runtime,
    runtimes,
    settings,
    tenants,
)
from sloserve.gateway.serving import exchange, prompt_count, prompt_prefix, rejections, schemas
from sloserve.scheduling import context_length, outcomes, slo

Endpoint = Literal["chat", "completions"]
PATHS: dict[Endpoint, str] = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}
Body = schemas.ChatCompletionRequest | schemas.CompletionRequest
_SCHEMAS: dict[Endpoint, type[Body]] = {
    "chat": schemas.ChatCompletionRequest,
    "completions": schemas.CompletionRequest,
}

# Request ids: a random prefix per process (replicas never collide) and a counter, where a UUID
# per request would cost a system call for its randomness.
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"req-{_ID_PREFIX}{next(_ID_COUNTER):08x}"


def parse_body(endpoint: Endpoint, body: bytes) -> Body:
    """The request body, or a 400 GatewayError naming the first offending field."""
    try:
        return _SCHEMAS[endpoint].model_validate_json(body)
    except pydantic.ValidationError as error:
        raise errors.from_validation_error(error) from error


def runtime_for(
    model_runtimes: runtimes.Runtimes, store: datastore.Datastore, model: str
) -> runtime.ModelRuntime:
    """The runtime of `model`; a 503 GatewayError when its profile cannot be loaded, a 404 one
    (listing the models served) when nothing serves it."""
    found = model_runtimes.get(model)
    if found is not None:
        return found
    reason = model_runtimes.unavailable.get(model)
    if reason is not None:
        raise errors.GatewayError(
            status=503, message=reason, error_type="service_unavailable", code="model_unavailable"
        )
    served = ", ".join(record.model for record in store.models()) or "none"
    raise errors.GatewayError(
        status=404,
        message=f"the model {model!r} does not exist here; models served: {served}",
        error_type="invalid_request_error",
        param="model",
        code="model_not_found",
    )


@dataclass(frozen=True)
class Prepared:
    """A classified request, counted, ready for a scheduler."""

    request: slo.Request
    model_runtime: runtime.ModelRuntime
    series: metrics.ClassSeries
    sequences: int = 1
    """How many sequences the engine runs for it: the prompt's members times `n`."""


def prepare(
    *,
    request_id: str,
    parsed: Body,
    headers: Mapping[str, str],
    tenant: tenants.Tenant,
    model_runtime: runtime.ModelRuntime,
    gateway_metrics: metrics.GatewayMetrics,
    scheduling: settings.SchedulingSettings,
    arrival_s: float,
    draining: bool,
    counted: prompt_count.PromptCount | None = None,
) -> Prepared:
    """Classify and count the request and build what the scheduler takes; raises GatewayError
    (400 bad header or prompt too long for the model's context, 403 class not allowed, 503
    draining). `counted`: the prompt's count when the caller has taken it (off the event loop),
    else it is counted here."""
    record = model_runtime.record
    try:
        choice = classify.choose_class(
            headers=headers, tenant=tenant, model=record.definition.classes
        )
    except errors.GatewayError as error:
        if error.code == "forbidden_class":
            labels = record.labels.with_class(str(error.extra["slo_class"]))
            gateway_metrics.requests.labels(*labels).inc()
            gateway_metrics.rejected.labels(*labels, "forbidden_class").inc()
        raise
    series = gateway_metrics.series(record.labels.with_class(choice.slo_class.name))
    series.requests.inc()
    if draining:
        series.rejected("draining").inc()
        raise errors.GatewayError(
            status=503,
            message="the gateway is shutting down; retry on another replica",
            error_type="service_unavailable",
            code="draining",
            headers={"Retry-After": "1", classify.CLASS_HEADER: choice.slo_class.name},
        )
    if counted is None:
        counted = prompt_count.count_prompt(
            parsed, tokenizer=model_runtime.tokenizer, chars_per_token=scheduling.chars_per_token
        )
    gateway_metrics.prompt_count(record.labels, counted.method).inc()
    request = slo.Request(
        request_id=request_id,
        model=record.model,
        slo_class=choice.slo_class,
        arrival_s=arrival_s,
        prompt_tokens=counted.total,
        max_tokens=parsed.output_budget() or scheduling.default_max_tokens,
        ttft_target_s=choice.ttft_target_s,
        tpot_target_s=choice.tpot_target_s,
        session_id=classify.session_of(headers),
    )
    if scheduling.prefix_aware:
        request = dataclasses.replace(
            request,
            prefix_hashes=prompt_prefix.prefix_hashes(
                parsed.prompt_content(),
                prompt_tokens=request.prompt_tokens,
                block_tokens=scheduling.prefix_block_tokens,
                chars_per_token=scheduling.chars_per_token,
            ),
            prefix_block_tokens=scheduling.prefix_block_tokens,
        )
    # The autoscaler reads per-class prompt lengths from this (with the output tokens).
    series.prompt_tokens.inc(request.prompt_tokens)
    prepared = Prepared(
        request=request,
        model_runtime=model_runtime,
        series=series,
        sequences=counted.members * parsed.n,
    )
    too_long = _context_check(model_runtime, parsed, request, counted)
    if too_long is not None:
        try:
            refuse(prepared, too_long)
        except errors.GatewayError as error:
            error.headers[classify.CLASS_HEADER] = choice.slo_class.name
            raise
    return prepared


def _context_check(
    model_runtime: runtime.ModelRuntime,
    parsed: Body,
    request: slo.Request,
    counted: prompt_count.PromptCount,
) -> outcomes.Rejected | None:
    """Refuse a prompt whose longest member (each is its own sequence) the context cannot
    hold with the output it asks for; an estimate is checked at its floor."""
    max_model_len = model_runtime.max_model_len()
    if max_model_len is None:
        return None
    return context_length.prompt_too_long(
        request,
        prompt_tokens=counted.longest_floor,
        requested_output_tokens=parsed.output_budget(),
        max_model_len=max_model_len,
        now_s=request.arrival_s,
    )


def admitted(
    prepared: Prepared,
    decision: outcomes.Admitted | outcomes.Rejected,
    *,
    held_by: runtime.ModelRuntime | None = None,
) -> exchange.Exchange:
    """The exchange of an admitted request, or the rejection as a GatewayError (counted).
    `held_by`: the runtime the request was submitted to, when not the model's own."""
    if isinstance(decision, outcomes.Rejected):
        refuse(prepared, decision)
    prepared.series.admitted.inc()
    return exchange.Exchange(
        request=prepared.request,
        model_runtime=held_by or prepared.model_runtime,
        series=prepared.series,
        sequences=prepared.sequences,
    )


def refuse(prepared: Prepared, rejection: outcomes.Rejected) -> NoReturn:
    """Count the scheduler's refusal and raise it as the client's GatewayError."""
    prepared.series.rejected(rejection.reason.value).inc()
    raise rejections.rejection_error(rejection)
