"""The engine simulator's FastAPI application."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import fastapi
from fastapi import exceptions as fastapi_exceptions
from fastapi import responses as fastapi_responses

from sloserve.engine.server import openai_routes, responses, runtime, sim_routes


def create_app(settings: runtime.ServerSettings) -> fastapi.FastAPI:
    """An app that builds its engine when it starts and stops it (aborting what is in flight)
    when it shuts down."""

    @contextlib.asynccontextmanager
    async def lifespan(app: fastapi.FastAPI) -> AsyncIterator[None]:
        state = runtime.ServerRuntime(settings)
        app.state.runtime = state
        await state.runner.start()
        try:
            yield
        finally:
            await state.runner.stop()

    app = fastapi.FastAPI(
        title="sloserve engine simulator",
        description="A vLLM-compatible engine simulator timed by a measured latency profile.",
        lifespan=lifespan,
    )
    app.include_router(openai_routes.router)
    app.include_router(sim_routes.router)
    app.add_exception_handler(fastapi_exceptions.RequestValidationError, _invalid_request)
    return app


async def _invalid_request(request: fastapi.Request, error: Exception) -> fastapi.Response:
    """400 (as vLLM answers, not FastAPI's 422) with an OpenAI error naming the first bad field."""
    problems: Sequence[Any] = (
        error.errors() if isinstance(error, fastapi_exceptions.RequestValidationError) else []
    )
    described = [_describe(problem) for problem in problems]
    param = described[0][0] if described else None
    message = "; ".join(f"{field}: {text}" if field else text for field, text in described)
    body = responses.error_body(message or "invalid request", status=400, param=param)
    return fastapi_responses.JSONResponse(body, status_code=400)


def _describe(problem: Any) -> tuple[str | None, str]:
    """(field path such as `messages[0].role`, message) of one validation error."""
    if problem.get("type") == "json_invalid":
        return None, f"the request body is not valid JSON ({problem.get('msg')})"
    path = ""
    for part in problem.get("loc", ())[1:]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    text = str(problem.get("msg", "invalid value"))
    if problem.get("type") == "missing":
        text = "this field is required"
    elif "input" in problem and problem.get("type") != "missing":
        text += f" (got {json.dumps(problem['input'], default=str)[:80]})"
    return path or None, text
