"""Turning a validated request body into what the engine runs, or an error as vLLM answers it.

Checks follow vLLM 0.32's, in its order (tests/engine/test_vllm_conformance.py holds the two
together): the model must be served (an omitted model means the first served name); a requested
output limit above max_model_len is refused; a prompt longer than max_model_len is refused
(`param: input_tokens`); the output limit is then cut to what fits after the prompt, and refused
only when nothing fits; min_tokens may not exceed it. A chat request without max_tokens may
generate up to the rest of max_model_len, as in vLLM. `priority` is passed on under every policy
(vLLM accepts it and only the priority policy orders by it). The TPOT target for the credit
policy comes from the `x-slo-tpot-ms` header (what the gateway sends) or else the body field
`slo_tpot_ms`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sloserve.engine import config, generation, requests
from sloserve.engine.server import protocol, responses
from sloserve.scheduling import prefix_blocks

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
    model = served_model(body.model, served_model_names)
    try:
        body.check_supported()
        prompt_tokens = body.prompt_tokens()
    except protocol.UnsupportedFieldError as error:
        raise RequestRejectedError(str(error), param=error.field) from error
    chat = isinstance(body, protocol.ChatCompletionRequest)
    max_model_len = engine_config.max_model_len
    requested = body.requested_max_tokens()
    if requested is not None and requested > max_model_len:
        field = body.max_tokens_field()
        raise RequestRejectedError(
            f"{field}={requested} cannot be greater than max_model_len={max_model_len}. Please "
            f"request fewer output tokens. (parameter={field}, value={requested})",
            param=field,
        )
    if prompt_tokens > max_model_len:
        raise RequestRejectedError(
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"prompt contains at least {prompt_tokens} input tokens, which exceeds this limit "
            "even without any output tokens. Please reduce the length of the input prompt. "
            f"(parameter=input_tokens, value={prompt_tokens})",
            param="input_tokens",
        )
    room = max_model_len - prompt_tokens
    max_tokens = room if requested is None else min(requested, room)
    if max_tokens < 1:
        # vLLM names max_tokens here whichever field carried the limit
        raise RequestRejectedError(
            f"max_tokens must be at least 1, got {max_tokens}. "
            f"(parameter=max_tokens, value={max_tokens})",
            param="max_tokens",
        )
    if body.min_tokens < 0:
        raise RequestRejectedError(
            f"min_tokens must be greater than or equal to 0, got {body.min_tokens}."
        )
    if body.min_tokens > max_tokens:
        raise RequestRejectedError(
            f"min_tokens must be less than or equal to max_tokens={max_tokens}, "
            f"got {body.min_tokens}."
        )
    plan = generation.plan_output(body.stop_conditions(max_tokens))
    engine_id = uuid.uuid4().hex
    block_hashes: tuple[int, ...] = ()
    if engine_config.enable_prefix_caching:
        # the prompt's token ids, hashed block by block as vLLM's prefix cache keys them
        block_hashes = prefix_blocks.chain_hashes(
            body.prompt_token_ids(),
            unit_tokens=1,
            prompt_tokens=prompt_tokens,
            block_tokens=engine_config.block_size,
        )
    spec = requests.RequestSpec(
        request_id=engine_id,
        prompt_tokens=prompt_tokens,
        output_tokens=plan.num_tokens,
        priority=body.priority,
        tpot_target_s=_tpot_target_s(headers, body.slo_tpot_ms),
        block_hashes=block_hashes,
    )
    base_id = headers.get("x-request-id") or body.request_id or engine_id
    context = responses.ResponseContext(
        endpoint="chat" if chat else "completions",
        response_id=f"{'chatcmpl' if chat else 'cmpl'}-{base_id}",
        created=created,
        model=model,
        prompt_tokens=prompt_tokens,
    )
    return Admitted(spec=spec, plan=plan, context=context)


def served_model(requested: str | None, served_model_names: tuple[str, ...]) -> str:
    """The served name a request is for (the first one when it names none); raises
    RequestRejectedError (404) for a name that is not served."""
    if requested is None:
        return served_model_names[0]
    if requested not in served_model_names:
        raise RequestRejectedError(
            f"The model `{requested}` does not exist. Valid aliases: "
            f"{', '.join(served_model_names)}.",
            status=404,
            param="model",
        )
    return requested


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
