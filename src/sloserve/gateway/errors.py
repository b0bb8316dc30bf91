"""Errors as OpenAI clients expect them: `{"error": {"message", "type", "param", "code"}}`.

Every refusal the gateway makes is a `GatewayError`; the app turns it into a JSON response with the
right status and headers. Messages name the field or thing that is wrong and say what to do, and
stay the same from one request to the next (numbers go in fields of their own), so that clients
and load generators can group them. Answers of the framework itself (an unknown path, a wrong
method, an unexpected failure) get the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class GatewayError(Exception):
    """A refusal with an HTTP status and an OpenAI-shaped body.

    `extra` adds fields beside `message`/`type`/`param`/`code` inside `error` (e.g. the class and
    the predicted TTFT of a rejection).
    """

    def __init__(
        self,
        *,
        status: int,
        message: str,
        error_type: str,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "param": self.param,
            "code": self.code,
        }
        error.update(self.extra)
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def invalid_request(message: str, *, param: str | None = None) -> GatewayError:
    """400 for a request body or header the gateway cannot accept."""
    return GatewayError(
        status=400, message=message, error_type="invalid_request_error", param=param
    )


def from_validation_error(error: pydantic.ValidationError) -> GatewayError:
    """400 naming the first offending field of a request body, as a dotted path."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in _field_path(first["loc"])) or "body"
    if first["type"] == "json_invalid":
        return invalid_request(
            f"the request body is not valid JSON ({first['msg']}); send a JSON object",
            param="body",
        )
    return invalid_request(f"invalid field '{field}': {first['msg']}", param=field)


# pydantic adds the member of a union that failed to the location ("prompt.str"); a client wants
# the field alone.
_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none", "list", "dict"})


def _field_path(location: tuple[int | str, ...]) -> list[int | str]:
    path: list[int | str] = []
    for part in location:
        if isinstance(part, str) and ("[" in part or part in _UNION_TAGS):
            break
        path.append(part)
    return path


def install_handlers(app: FastAPI) -> None:
    """Answer every error of `app` in the OpenAI shape."""
    app.add_exception_handler(GatewayError, _handle_gateway_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(RequestValidationError, _handle_request_validation_error)
    app.add_exception_handler(Exception, _handle_unexpected_error)


async def _handle_gateway_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, GatewayError)
    return error.response()


async def _handle_http_exception(_: Request, error: Exception) -> JSONResponse:
    """Starlette's own 404/405 answers, reshaped so that OpenAI clients can read them."""
    assert isinstance(error, StarletteHTTPException)
    kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
    return GatewayError(
        status=error.status_code,
        message=str(error.detail),
        error_type=kind,
        headers=error.headers,
    ).response()


async def _handle_request_validation_error(_: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 for a parameter it validated, as a 400 naming the parameter."""
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
    field = ".".join(str(part) for part in _field_path(tuple(first["loc"])[1:])) or None
    return invalid_request(
        f"invalid {'field ' + repr(field) if field else 'request'}: {first['msg']}", param=field
    ).response()


async def _handle_unexpected_error(_: Request, error: Exception) -> JSONResponse:
    """A 500 for a failure nothing else handled. Starlette raises the error on after this answer,
    and the server logs it with its traceback."""
    return GatewayError(
        status=500,
        message="the gateway failed on this request; see its log",
        error_type="internal_error",
    ).response()
