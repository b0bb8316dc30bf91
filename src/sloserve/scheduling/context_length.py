"""The model's context limit, as vLLM enforces it: a prompt must be shorter than
`max_model_len`, and a prompt plus the output the client asks for (when it asks) must fit in it.
A request that breaks it can never be served, however long it waits, so it is refused as a
client error (vLLM answers 400), never as a rejection worth retrying.
"""

from sloserve.scheduling import outcomes, slo


def exceeds(*, prompt_tokens: int, requested_output_tokens: int | None, max_model_len: int) -> bool:
    """Whether `prompt_tokens` and the `requested_output_tokens` (None: not asked, so vLLM
    allows what is left of the context) break the limit."""
    if prompt_tokens >= max_model_len:
        return True
    return requested_output_tokens is not None and (
        prompt_tokens + requested_output_tokens > max_model_len
    )


def prompt_too_long(
    request: slo.Request,
    *,
    prompt_tokens: int,
    requested_output_tokens: int | None,
    max_model_len: int,
    now_s: float,
) -> outcomes.Rejected | None:
    """The rejection of `request` when its `prompt_tokens` (what the caller counted, which may
    differ from `request.prompt_tokens` when that is an estimate) and requested output break
    `max_model_len`; None when they fit."""
    if not exceeds(
        prompt_tokens=prompt_tokens,
        requested_output_tokens=requested_output_tokens,
        max_model_len=max_model_len,
    ):
        return None
    message = (
        f"model {request.model!r} takes at most {max_model_len} tokens of prompt and output "
        "together, and a prompt shorter than that; shorten the prompt or ask for fewer tokens"
    )
    details: dict[str, float | int | str] = {
        "max_model_len": max_model_len,
        "prompt_tokens": prompt_tokens,
    }
    if requested_output_tokens is not None:
        details["max_tokens"] = requested_output_tokens
    return outcomes.Rejected(
        request=request,
        reason=outcomes.RejectReason.PROMPT_TOO_LONG,
        message=message,
        at_s=now_s,
        details=details,
    )
