"""The gateway's ASGI application: the two generation endpoints straight from ASGI, the rest
through FastAPI.

A request through FastAPI passes half a dozen middleware layers (error handling, body limits,
telemetry, exception mapping), a regex match per route and a dependency solver before it reaches
its handler, and on a short streamed completion those layers cost more CPU than the gateway's own
work. The generation endpoints need none of them: `GatewayApp` sends `POST /v1/completions` and
`POST /v1/chat/completions` to `generation.serve` directly and everything else, lifespan included,
to the FastAPI app. The two routes stay registered with FastAPI too, so that its OpenAPI document
lists them.

Errors keep their shape: a `GatewayError` becomes its OpenAI-shaped JSON answer, and anything
unexpected is logged and answered with an OpenAI-shaped 500, as FastAPI's handlers would.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from sloserve.gateway import context, errors
from sloserve.gateway.serving import generation

log = logging.getLogger(__name__)

ENDPOINTS: dict[str, generation.Endpoint] = {
    path: endpoint for endpoint, path in generation.PATHS.items()
}


class GatewayApp:
    """The ASGI application uvicorn serves; `api` is the FastAPI app behind it."""

    def __init__(self, api: FastAPI) -> None:
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            ENDPOINTS.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if endpoint is None:
            await self.api(scope, receive, send)
            return
        # Set by the FastAPI app's lifespan, which runs before any request is served.
        gateway: context.GatewayContext = self.api.state.gateway
        try:
            response = await generation.serve(gateway, Request(scope, receive), endpoint)
        except errors.GatewayError as error:
            response = error.response()
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            response = errors.GatewayError(
                status=500,
                message="the gateway failed on this request; see its log",
                error_type="internal_error",
            ).response()
        await response(scope, receive, send)
