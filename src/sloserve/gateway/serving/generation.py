"""The life of a generation request: validate → identify → classify → schedule → proxy.

Arrival is stamped first, so queueing, retries and the gateway's own work all count against the
request's deadline. The scheduler decides admission, order and engine; this module acts on its
answers, retries on another engine when one fails before the first byte (the scheduler re-checks
the deadline), and watches for the client going away while the request waits.
"""

from __future__ import annotations

import logging

from fastapi import Request, Response

from sloserve.gateway import classify, context, errors, runtime
from sloserve.gateway.serving import (
    activation,
    admission,
    client_watch,
    exchange,
    prompt_count,
    rejections,
    relay,
    request_body,
)
from sloserve.gateway.upstream import engine_calls

log = logging.getLogger(__name__)

Endpoint = admission.Endpoint
PATHS = admission.PATHS
_CLIENT_CLOSED = 499


async def serve(ctx: context.GatewayContext, http_request: Request, endpoint: Endpoint) -> Response:
    """Answer one generation request. Every answer, errors included, carries `x-request-id`, and
    `x-slo-class` once the request has a class."""
    arrival_s = ctx.clock.now()
    reply_headers = {"x-request-id": admission.new_request_id()}
    try:
        return await _serve(ctx, http_request, endpoint, arrival_s, reply_headers)
    except errors.GatewayError as error:
        error.headers.update(reply_headers)
        raise


async def _serve(
    ctx: context.GatewayContext,
    http_request: Request,
    endpoint: Endpoint,
    arrival_s: float,
    reply_headers: dict[str, str],
) -> Response:
    body = await request_body.read_json_body(
        http_request, limit_bytes=ctx.settings.server.max_request_body_bytes
    )
    parsed = admission.parse_body(endpoint, body)
    tenant = ctx.tenants.book.identify(http_request.headers.get("authorization"))
    model_runtime = admission.runtime_for(ctx.runtimes, ctx.store, parsed.model)
    counted = await prompt_count.count_prompt_off_loop(
        parsed,
        tokenizer=model_runtime.tokenizer,
        chars_per_token=ctx.settings.scheduling.chars_per_token,
    )
    prepared = admission.prepare(
        request_id=reply_headers["x-request-id"],
        parsed=parsed,
        headers=http_request.headers,
        tenant=tenant,
        model_runtime=model_runtime,
        gateway_metrics=ctx.metrics,
        scheduling=ctx.settings.scheduling,
        arrival_s=arrival_s,
        draining=ctx.lifecycle.draining,
        counted=counted,
    )
    reply_headers[classify.CLASS_HEADER] = prepared.request.slo_class.name
    await activation.hold_for_engine(
        model_runtime, prepared, cold_start_s=ctx.settings.scheduling.cold_start_s
    )
    decision = await activation.admit_to_coming(
        model_runtime, prepared, model_runtime.submit(prepared.request)
    )
    current = admission.admitted(prepared, decision)
    ctx.lifecycle.enter()
    relaying = False
    try:
        response = await _proxy(
            ctx, http_request, current, body, parsed.stream, endpoint, reply_headers
        )
        # A relay leaves the lifecycle itself, once its stream has ended.
        relaying = isinstance(response, relay.RelayResponse)
        return response
    except BaseException:
        # Whatever went wrong, the scheduler must not keep holding the request.
        current.end_failed()
        raise
    finally:
        if not relaying:
            ctx.lifecycle.exit()


async def _proxy(
    ctx: context.GatewayContext,
    http_request: Request,
    current: exchange.Exchange,
    body: bytes,
    stream: bool,
    endpoint: Endpoint,
    reply_headers: dict[str, str],
) -> Response:
    watch = client_watch.ClientWatch(http_request.receive)
    try:
        response = await _proxy_watched(
            ctx, http_request, current, body, stream, endpoint, reply_headers, watch
        )
    except BaseException:
        watch.stop()
        raise
    if not isinstance(response, relay.RelayResponse):
        watch.stop()
    return response


async def _proxy_watched(
    ctx: context.GatewayContext,
    http_request: Request,
    current: exchange.Exchange,
    body: bytes,
    stream: bool,
    endpoint: Endpoint,
    reply_headers: dict[str, str],
    watch: client_watch.ClientWatch,
) -> Response:
    model_runtime = current.model_runtime
    request_id = current.request.request_id
    headers = engine_calls.forwarded_headers(http_request.headers, request_id)
    engine_failures = 0
    try:
        while True:
            dispatch = await watch.unless_gone(model_runtime.wait_for_engine(request_id))
            current.series.queue_time.observe(dispatch.at_s - current.request.arrival_s)
            send = engine_calls.open_stream if stream else engine_calls.fetch_whole
            try:
                answer = await watch.unless_gone(
                    send(
                        ctx.engines,
                        engine_url=dispatch.engine_id,
                        path=PATHS[endpoint],
                        body=body,
                        headers=headers,
                    )
                )
                break
            except engine_calls.EngineFailedError as failure:
                log.warning("request %s: %s; asking the scheduler to retry it", request_id, failure)
                current.series.retried.inc()
                engine_failures += 1
                model_runtime.engine_failed(request_id, dispatch.engine_id)
    except runtime.RequestRejectedError as rejected:
        error = rejections.rejected_while_waiting(
            current, rejected.rejection, after_engine_failure=engine_failures > 0
        )
        error.headers.update(reply_headers)
        return error.response()
    except client_watch.ClientGoneError:
        current.end_cancelled()
        return Response(status_code=_CLIENT_CLOSED, headers=reply_headers)
    if isinstance(answer, engine_calls.OpenStream):
        return relay.RelayResponse(
            relay.Relay(
                stream=answer,
                engine_url=dispatch.engine_id,
                current=current,
                gateway_lifecycle=ctx.lifecycle,
            ),
            watch=watch,
            status_code=answer.reply.status,
            media_type=answer.reply.content_type or "text/event-stream",
            headers=reply_headers,
        )
    if answer.status < 400:
        current.end_served_whole(body=answer.body, answered_s=ctx.clock.now())
    else:
        current.end_client_error()
    return Response(
        content=answer.body,
        status_code=answer.status,
        media_type=answer.content_type,
        headers=reply_headers,
    )
