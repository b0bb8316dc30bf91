"""The OpenAI-compatible endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from sloserve.gateway import context
from sloserve.gateway.serving import generation

router = APIRouter(prefix="/v1", tags=["openai"])


@router.post("/chat/completions")
async def chat_completions(request: Request, ctx: context.Context) -> Response:
    return await generation.serve(ctx, request, "chat")


@router.post("/completions")
async def completions(request: Request, ctx: context.Context) -> Response:
    return await generation.serve(ctx, request, "completions")


@router.get("/models")
async def models(ctx: context.Context) -> dict[str, Any]:
    """The models this gateway serves, with their SLO classes (extra fields OpenAI clients
    ignore)."""
    data = []
    for record in ctx.store.models():
        classes = record.definition.classes
        data.append(
            {
                "id": record.model,
                "object": "model",
                "created": ctx.started_at,
                "owned_by": record.labels.namespace or "sloserve",
                "slo_classes": [
                    {
                        "name": slo_class.name,
                        "ttft_ms": slo_class.ttft_s * 1000.0,
                        "tpot_ms": slo_class.tpot_s * 1000.0,
                    }
                    for slo_class in classes.classes.values()
                ],
                "default_class": classes.default_class,
                "engines": len(record.engines),
            }
        )
    return {"object": "list", "data": data}
