"""Turning a validated request body into what the engine runs, or a 400 naming the field.

Checks follow vLLM's: the model must be served; the prompt must be shorter than max_model_len and
prompt + max_tokens must fit in it; min_tokens may not exceed max_tokens; a non-zero `priority`
needs `--scheduling-policy priority`. A chat request without max_tokens may generate up to the
rest of max_model_len, as in vLLM. The TPOT target for the credit policy comes from the
`x-slo-tpot-ms` header (what the gateway sends) or else the body field `slo_tpot_ms`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sloserve.engine import config, generation, requests
from sloserve.engine.server import protocol, responses

TPOT_HEADER = "x-slo-tpot-ms"


class RequestRejectedError(Exception):
    """The request cannot be served as sent; carries the HTTP status and the field at fault."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


@dataclass(frozen=True)
class Admitted:
    """A request ready for the engine, with everything its response needs."""

    spec: requests.RequestSpec
    plan: generation.OutputPlan
    context: responses.ResponseContext


def admit(
    body: protocol.GenerationRequest,
    *,
    headers: Mapping[str, str],
    served_model_names: tuple[str, ...],
    engine_config: config.EngineConfig,
    created: int,
) -> Admitted:
    """Validate `body` against the engine and plan its output; raises RequestRejectedError."""
    if body.model not in served_model_names:
        raise RequestRejectedError(
            f"The model `{body.model}` does not exist; this server serves "
            f"{list(served_model_names)}",
            status=404,
            param="model",
        )
    try:
        body.check_supported()
        prompt_tokens = body.prompt_tokens()
    except protocol.UnsupportedFieldError as error:
        raise RequestRejectedError(str(error), param=error.field) from error
    chat = isinstance(body, protocol.ChatCompletionRequest)
    prompt_field = body.PROMPT_FIELD
    max_model_len = engine_config.max_model_len
    if prompt_tokens < 1:
        raise RequestRejectedError(
            f"{prompt_field} must contain at least one token", param=prompt_field
        )
    if prompt_tokens >= max_model_len:
        raise RequestRejectedError(
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"request has {prompt_tokens} input tokens. Please reduce the length of the input.",
            param=prompt_field,
        )
    requested = body.requested_max_tokens()
    max_tokens = max_model_len - prompt_tokens if requested is None else requested
    if prompt_tokens + max_tokens > max_model_len:
        raise RequestRejectedError(
            f"'max_tokens' is too large: {max_tokens}. This model's maximum context length is "
            f"{max_model_len} tokens and your request has {prompt_tokens} input tokens "
            f"({max_tokens} > {max_model_len} - {prompt_tokens}).",
            param=body.max_tokens_field(),
        )
    if body.min_tokens > max_tokens:
        raise RequestRejectedError(
            f"min_tokens ({body.min_tokens}) must be less than or equal to max_tokens "
            f"({max_tokens})",
            param="min_tokens",
        )
    if body.priority != 0 and engine_config.policy is not config.Policy.PRIORITY:
        raise RequestRejectedError(
            "Priority scheduling is not enabled: start the server with --scheduling-policy "
            "priority to use 'priority'",
            param="priority",
        )
    plan = generation.plan_output(body.stop_conditions(max_tokens))
    engine_id = uuid.uuid4().hex
    spec = requests.RequestSpec(
        request_id=engine_id,
        prompt_tokens=prompt_tokens,
        output_tokens=plan.num_tokens,
        priority=body.priority,
        tpot_target_s=_tpot_target_s(headers, body.slo_tpot_ms),
    )
    base_id = headers.get("x-request-id") or body.request_id or engine_id
    context = responses.ResponseContext(
        endpoint="chat" if chat else "completions",
        response_id=f"{'chatcmpl' if chat else 'cmpl'}-{base_id}",
        created=created,
        model=body.model,
        prompt_tokens=prompt_tokens,
    )
    return Admitted(spec=spec, plan=plan, context=context)


def _tpot_target_s(headers: Mapping[str, str], body_ms: float | None) -> float | None:
    raw = headers.get(TPOT_HEADER)
    if raw is None:
        return body_ms / 1000.0 if body_ms is not None else None
    try:
        target_ms = float(raw)
    except ValueError:
        target_ms = math.nan
    if not math.isfinite(target_ms) or target_ms <= 0:
        raise RequestRejectedError(
            f"header {TPOT_HEADER} must be a number of milliseconds above zero, got {raw!r}",
            param=TPOT_HEADER,
        )
    return target_ms / 1000.0
