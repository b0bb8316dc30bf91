"""The engine simulator's FastAPI application."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import fastapi
from fastapi import exceptions as fastapi_exceptions
from fastapi import responses as fastapi_responses

from sloserve.engine.server import openai_routes, responses, runtime, sim_routes, tokenize_routes

#: vLLM's `error.type` for a body that fails validation (the HTTP status phrase), unlike the
#: `BadRequestError` of its own checks.
VALIDATION_ERROR_TYPE = "Bad Request"
_UNION_BRANCH = re.compile(r"[\[\](){}]")
_KINDS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "function-after"})


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
    app.include_router(tokenize_routes.router)
    app.include_router(sim_routes.router)
    app.add_exception_handler(fastapi_exceptions.RequestValidationError, _invalid_request)
    return app


async def _invalid_request(request: fastapi.Request, error: Exception) -> fastapi.Response:
    """400 (as vLLM answers, not FastAPI's 422) with vLLM's shape: `type: "Bad Request"`, `param`
    the first bad field's location (`body.max_tokens`, `body.messages.0.role`), and a message
    listing every problem."""
    problems: Sequence[Any] = (
        error.errors() if isinstance(error, fastapi_exceptions.RequestValidationError) else []
    )
    param = _location(problems[0].get("loc", ())) if problems else None
    label = "error" if len(problems) == 1 else "errors"
    lines = [f"  {_location(p.get('loc', ()))}: {_describe(p)}" for p in problems]
    message = "\n".join([f"{len(problems)} validation {label}:", *lines])
    body = responses.error_body(message, status=400, param=param or None)
    body["error"]["type"] = VALIDATION_ERROR_TYPE
    return fastapi_responses.JSONResponse(body, status_code=400)


def _location(loc: Sequence[Any]) -> str:
    """A validation error's location as vLLM writes it, without pydantic's own markers for the
    branch of a union it tried (`str`, `list[int]`, ...)."""
    return ".".join(
        str(part) for part in loc if not _UNION_BRANCH.search(str(part)) and part not in _KINDS
    )


def _describe(problem: Any) -> str:
    if problem.get("type") == "json_invalid":
        return f"the request body is not valid JSON ({problem.get('msg')})"
    if problem.get("type") == "missing":
        return "this field is required"
    text = str(problem.get("msg", "invalid value"))
    if "input" in problem:
        text += f" (got {json.dumps(problem['input'], default=str)[:80]})"
    return text
