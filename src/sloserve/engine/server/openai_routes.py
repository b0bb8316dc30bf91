"""The vLLM-compatible endpoints: completions, chat completions, models, health, metrics."""

from __future__ import annotations

import importlib.metadata
import time
from typing import Annotated, Any

import fastapi
import prometheus_client
from fastapi import responses as fastapi_responses

from sloserve.engine.server import admission, protocol, responses, runner, runtime, serving

router = fastapi.APIRouter(tags=["openai"])
VERSION = f"sloserve-engine-sim-{importlib.metadata.version('sloserve')}"

Runtime = Annotated[runtime.ServerRuntime, fastapi.Depends(runtime.get_runtime)]


@router.post("/v1/completions", response_model=None)
async def create_completion(
    body: protocol.CompletionRequest, request: fastapi.Request, state: Runtime
) -> fastapi.Response:
    """OpenAI's completions API."""
    return await _generate(body, request, state)


@router.post("/v1/chat/completions", response_model=None)
async def create_chat_completion(
    body: protocol.ChatCompletionRequest, request: fastapi.Request, state: Runtime
) -> fastapi.Response:
    """OpenAI's chat completions API (no chat template: the prompt is the messages' words)."""
    return await _generate(body, request, state)


@router.get("/v1/models")
async def list_models(state: Runtime) -> dict[str, Any]:
    """The served model names, as vLLM lists them."""
    settings = state.settings
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": state.created,
                "owned_by": "vllm",
                "root": settings.model,
                "parent": None,
                "max_model_len": settings.engine.max_model_len,
                "permission": [
                    {
                        "id": f"modelperm-{state.created:x}",
                        "object": "model_permission",
                        "created": state.created,
                        "allow_create_engine": False,
                        "allow_sampling": True,
                        "allow_logprobs": False,
                        "allow_search_indices": False,
                        "allow_view": True,
                        "allow_fine_tuning": False,
                        "organization": "*",
                        "group": None,
                        "is_blocking": False,
                    }
                ],
            }
            for name in settings.served_model_names
        ],
    }


@router.get("/health")
async def health(state: Runtime) -> fastapi.Response:
    """200 with an empty body while the engine serves; 500 when it has failed or a simulated
    `refuse` fault is set."""
    if state.runner.failure is not None or state.fault.refuses_requests():
        return fastapi.Response(status_code=500)
    return fastapi.Response(status_code=200)


@router.get("/version")
async def version() -> dict[str, str]:
    """`{"version": ...}` as vLLM answers it; here, the simulator's (sloserve's) version."""
    return {"version": VERSION}


@router.get("/metrics")
async def metrics(state: Runtime) -> fastapi.Response:
    """Prometheus text exposition with vLLM's metric names."""
    return fastapi.Response(
        content=state.metrics.exposition(), media_type=prometheus_client.CONTENT_TYPE_LATEST
    )


async def _generate(
    body: protocol.GenerationRequest, request: fastapi.Request, state: runtime.ServerRuntime
) -> fastapi.Response:
    if state.fault.refuses_requests():
        return _error("the engine refuses new requests (simulated fault, POST /sim/fault)", 500)
    state.warn_ignored_fields(body.ignored_fields())
    try:
        admitted = admission.admit(
            body,
            headers=request.headers,
            served_model_names=state.settings.served_model_names,
            engine_config=state.settings.engine,
            created=int(time.time()),
        )
    except admission.RequestRejectedError as rejected:
        return serving.rejection(rejected)
    try:
        handle = state.runner.submit(
            admitted.spec, finish_reason=admitted.plan.finish_reason, streaming=body.stream
        )
    except runner.EngineFailedError as failed:
        return _error(str(failed), 500)
    if not body.stream:
        return await serving.collect(state, handle, admitted, request)
    options = body.stream_options
    include_usage = options is not None and options.include_usage
    return serving.stream(
        state,
        handle,
        admitted,
        include_usage=include_usage,
        continuous_usage=include_usage and options is not None and options.continuous_usage_stats,
    )


def _error(message: str, status: int) -> fastapi.Response:
    return fastapi_responses.JSONResponse(
        responses.error_body(message, status=status), status_code=status
    )
