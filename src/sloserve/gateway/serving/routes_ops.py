"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sloserve.gateway import context
from sloserve.gateway.serving import engines_view

router = APIRouter(tags=["operations"])


@router.get("/healthz")
@router.get("/health")
async def healthz() -> dict[str, str]:
    """Alive: the event loop answers. `/health` is the path vLLM serves, which load generators
    and routers probe before they send traffic."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(ctx: context.Context) -> JSONResponse:
    """Ready for traffic: not draining, the model sources read once, and the models servable —
    each has a usable latency profile and an engine that answers its metrics (every model, or
    at least one under `server.readiness: any-model`). A 503 lists what is wrong."""
    if ctx.lifecycle.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    if not ctx.sources_synced():
        return JSONResponse({"status": "discovering models"}, status_code=503)
    models = len(ctx.store.models())
    problems = ctx.runtimes.readiness_problems()
    every_model = ctx.settings.server.readiness == "every-model"
    if problems and (every_model or len(problems) >= models):
        return JSONResponse(
            {"status": "models not servable", "models": models, "problems": problems},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "models": models, "problems": problems})


@router.get("/metrics")
async def metrics(ctx: context.Context) -> Response:
    """Prometheus exposition; the queue and in-flight gauges are read as of this scrape."""
    m = ctx.metrics
    for model_runtime in ctx.runtimes.all():
        m.publish_load(
            model_runtime.record.labels,
            queued=model_runtime.scheduler.queue_length,
            inflight={url: ledger.inflight for url, ledger in model_runtime.ledgers.items()},
        )
        calibrated = model_runtime.calibration
        if calibrated is not None and calibrated.enabled:
            m.publish_calibration(
                model_runtime.record.labels,
                model_state=calibrated.state(),
                engine_states=calibrated.engine_states(),
                observations=calibrated.observations,
            )
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/debug/engines")
async def debug_engines(ctx: context.Context) -> JSONResponse:
    """Each model's engines as the gateway sees them, with the latency model it predicts with:
    the profile and how it was chosen, the calibrated factors and their error, and how prompt
    tokens are counted (docs/gateway.md)."""
    return JSONResponse(
        {"models": [engines_view.model_view(runtime) for runtime in ctx.runtimes.all()]}
    )
