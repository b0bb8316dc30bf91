"""Answering an admitted request: a stream of SSE chunks, or one body once it finishes.

Either way a client that goes away aborts the request in the engine (its KV blocks are freed at
once). A request killed by a simulated fault loses its connection (streaming) or gets a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import fastapi
from fastapi import responses as fastapi_responses

from sloserve.engine.server import admission, event_stream, faults, responses, runner, runtime

# what nginx logs for a client that closed the connection; the client never sees it
CLIENT_CLOSED_REQUEST = 499


def stream(
    state: runtime.ServerRuntime,
    handle: runner.RequestHandle,
    admitted: admission.Admitted,
    *,
    include_usage: bool,
    continuous_usage: bool,
) -> event_stream.EventStreamResponse:
    """The SSE response of a streaming request."""
    chunks = _chunks(
        state, handle, admitted, include_usage=include_usage, continuous_usage=continuous_usage
    )
    return event_stream.EventStreamResponse(chunks)


async def _chunks(
    state: runtime.ServerRuntime,
    handle: runner.RequestHandle,
    admitted: admission.Admitted,
    *,
    include_usage: bool,
    continuous_usage: bool,
) -> AsyncGenerator[str, None]:
    context, plan = admitted.context, admitted.plan
    delivered = 0
    try:
        while delivered < plan.num_tokens:
            update = await handle.updates.get()
            if update.died:
                # the connection is dropped without a finish chunk or [DONE], as when an
                # engine crashes under a proxy
                raise faults.SimulatedEngineDeathError(update.error)
            if update.error is not None:
                yield context.error_chunk(update.error)
                yield responses.DONE
                return
            if update.token_index is None:
                continue
            if delivered == 0:
                opening = context.role_chunk(continuous_usage=continuous_usage)
                if opening is not None:
                    yield opening
            delivered = update.token_index + 1
            last = delivered == plan.num_tokens
            yield context.token_chunk(
                plan.token_texts[update.token_index],
                finish=plan if last else None,
                continuous_usage=delivered if continuous_usage else None,
                closes_stream=last and not include_usage,
            )
        if include_usage:
            yield context.usage_chunk(plan.num_tokens)
        yield responses.DONE
    finally:
        if delivered < plan.num_tokens:
            state.runner.abort(handle.spec.request_id)


async def collect(
    state: runtime.ServerRuntime,
    handle: runner.RequestHandle,
    admitted: admission.Admitted,
    request: fastapi.Request,
) -> fastapi.Response:
    """The body of a non-streaming request, once it has finished."""
    disconnected = asyncio.create_task(_until_disconnect(request))
    try:
        waiters: set[asyncio.Future[Any]] = {handle.completion, disconnected}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        disconnected.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await disconnected
    if not handle.completion.done():
        state.runner.abort(handle.spec.request_id)
        return fastapi.Response(status_code=CLIENT_CLOSED_REQUEST)
    update = handle.completion.result()
    if update.error is not None:
        return _error(update.error, status=500)
    return fastapi_responses.JSONResponse(admitted.context.full_response(admitted.plan))


async def _until_disconnect(request: fastapi.Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _error(message: str, *, status: int, param: str | None = None) -> fastapi.Response:
    body = responses.error_body(message, status=status, param=param)
    return fastapi_responses.JSONResponse(body, status_code=status)


def rejection(error: admission.RequestRejectedError) -> fastapi.Response:
    """The error response of a request that could not be admitted."""
    return _error(str(error), status=error.status, param=error.param)
