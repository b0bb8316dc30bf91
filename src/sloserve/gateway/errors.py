"""Errors as OpenAI clients expect them: `{"error": {"message", "type", "param", "code"}}`.

Every refusal the gateway makes is a `GatewayError`; the app turns it into a JSON response with the
right status and headers. Messages name the field or thing that is wrong and say what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
from fastapi import Request
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


async def handle_gateway_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, GatewayError)
    return error.response()


async def handle_http_exception(_: Request, error: Exception) -> JSONResponse:
    """Starlette's own 404/405 answers, reshaped so that OpenAI clients can read them."""
    assert isinstance(error, StarletteHTTPException)
    kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
    return GatewayError(
        status=error.status_code,
        message=str(error.detail),
        error_type=kind,
        headers=error.headers,
    ).response()
