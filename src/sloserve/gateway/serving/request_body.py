"""Reading a generation request's body: JSON only, and no larger than the configured limit.

A body declared with a non-JSON media type (`text/plain`, a form) is refused with 415 before it is
read; a body without a `Content-Type` is read as JSON, as OpenAI's API does. A body over the limit
is refused with 413, from its `Content-Length` before any of it is read, or as soon as a chunked
upload passes the limit; the rest of it is never buffered.
"""

from __future__ import annotations

from starlette.requests import Request

from sloserve.gateway import errors


async def read_json_body(request: Request, *, limit_bytes: int) -> bytes:
    """The raw body, to be validated and forwarded unchanged. Raises GatewayError (400, 413,
    415)."""
    headers = request.headers
    content_type = headers.get("content-type")
    if content_type is not None and not is_json(content_type):
        raise errors.GatewayError(
            status=415,
            message="the request body must be JSON: send it with Content-Type: application/json",
            error_type="invalid_request_error",
            param="Content-Type",
            code="unsupported_media_type",
            extra={"content_type": content_type},
        )
    declared = headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise errors.invalid_request(
                "the Content-Length header is not a number", param="Content-Length"
            ) from None
        if length > limit_bytes:
            raise _too_large(limit_bytes, length)
        # The server reads exactly the declared length.
        return await request.body()
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit_bytes:
            raise _too_large(limit_bytes, None)
        chunks.append(chunk)
    return b"".join(chunks)


def is_json(content_type: str) -> bool:
    """Whether a Content-Type names JSON (`application/json`, `application/<x>+json`)."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _too_large(limit_bytes: int, length: int | None) -> errors.GatewayError:
    extra: dict[str, object] = {"max_body_bytes": limit_bytes}
    if length is not None:
        extra["body_bytes"] = length
    return errors.GatewayError(
        status=413,
        message="the request body is larger than this gateway accepts (error.max_body_bytes); "
        "send a shorter prompt",
        error_type="invalid_request_error",
        param="body",
        code="request_too_large",
        extra=extra,
    )
