"""The picker's servers: gRPC (ext_proc and health) for the proxy, HTTP for Prometheus and probes.

gRPC health answers, as the inference extension's picker does, for `liveness` (the process
answers), `readiness` and `envoy.service.ext_proc.v3.ExternalProcessor` (the sources have been
read once and the picker is not draining), and for the empty service name as for readiness.
The HTTP port serves `/metrics` (the gateway's metric names), `/healthz` and `/readyz`.

Stopping drains: readiness fails and new requests get 503 `draining` while the requests already
admitted finish, for up to the grace period; then the gRPC server stops, ending the streams left
(a proxy carries on with a request whose picker stream closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
from aiohttp import web
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sloserve.epp import app, conversation, tls

log = logging.getLogger(__name__)

EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
_READINESS_SERVICES = ("", "readiness", EXT_PROC_SERVICE)
_HEALTH_INTERVAL_S = 0.5

_ext_proc_grpc: Any = external_processor_pb2_grpc
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ExternalProcessor(_ext_proc_grpc.ExternalProcessorServicer):  # type: ignore[misc]
    """The ext_proc service: one `Conversation` per stream."""

    def __init__(self, ctx: app.EppContext) -> None:
        self._ctx = ctx

    async def Process(  # noqa: N802 (the gRPC method's name)
        self, request_iterator: object, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        ctx = self._ctx
        try:
            await conversation.Conversation(
                context,
                endpoint_picker=ctx.picker,
                request_body_mode=ctx.request_body_mode,
                response_body_mode=ctx.response_body_mode,
                max_request_body_bytes=ctx.settings.protocol.max_request_body_bytes,
            ).run()
        except conversation.ProtocolError as error:
            log.warning("ext_proc stream refused: %s", error)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))


@contextlib.asynccontextmanager
async def serving(ctx: app.EppContext) -> AsyncIterator[tuple[int, int]]:
    """Run both servers while the block runs; yields their ports (gRPC, HTTP), which are the
    settings' unless those are 0 (any free port)."""
    config = ctx.settings.server
    grpc_server = grpc.aio.server()
    _ext_proc_grpc.add_ExternalProcessorServicer_to_server(ExternalProcessor(ctx), grpc_server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    address = f"{config.host}:{config.port}"
    if config.secure_serving:
        credentials = (
            tls.load(config.cert_file, config.key_file)
            if config.cert_file is not None and config.key_file is not None
            else tls.self_signed()
        )
        grpc_port = grpc_server.add_secure_port(
            address, grpc.ssl_server_credentials([(credentials.key, credentials.cert)])
        )
    else:
        grpc_port = grpc_server.add_insecure_port(address)
    if grpc_port == 0:
        raise OSError(f"cannot listen on {address} for gRPC")
    runner = web.AppRunner(_ops_app(ctx), access_log=None)
    await runner.setup()
    http_socket = _listening_socket(config.host, config.metrics_port)
    await web.SockSite(runner, http_socket).start()
    http_port = int(http_socket.getsockname()[1])
    await grpc_server.start()
    watching = asyncio.create_task(_follow_readiness(ctx, health_servicer))
    log.info(
        "endpoint picker on %s (gRPC%s), metrics on port %d",
        f"{config.host}:{grpc_port}",
        " over TLS" if config.secure_serving else ", plaintext",
        http_port,
    )
    try:
        yield grpc_port, http_port
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await health_servicer.enter_graceful_shutdown()
        await grpc_server.stop(grace=1.0)
        await runner.cleanup()


async def drain(ctx: app.EppContext) -> None:
    """Refuse new requests and wait, up to the grace period, for the admitted ones to end."""
    await ctx.lifecycle.drain(grace_period_s=ctx.settings.shutdown.grace_period_s)


async def _follow_readiness(ctx: app.EppContext, servicer: health.aio.HealthServicer) -> None:
    await servicer.set("liveness", _SERVING)
    ready: bool | None = None
    while True:
        now_ready = ctx.ready()
        if now_ready != ready:
            ready = now_ready
            for service in _READINESS_SERVICES:
                await servicer.set(service, _SERVING if ready else _NOT_SERVING)
        await asyncio.sleep(_HEALTH_INTERVAL_S)


def _ops_app(ctx: app.EppContext) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        if ctx.lifecycle.draining:
            return web.json_response({"status": "draining"}, status=503)
        if not ctx.sources_synced():
            return web.json_response({"status": "discovering models"}, status=503)
        return web.json_response({"status": "ready", "models": len(ctx.store.models())})

    async def prometheus(_: web.Request) -> web.Response:
        ctx.publish_load()
        return web.Response(
            body=generate_latest(ctx.metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    ops = web.Application()
    ops.router.add_get("/healthz", healthz)
    ops.router.add_get("/readyz", readyz)
    ops.router.add_get("/metrics", prometheus)
    return ops


def _listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for the HTTP server (created here so that its port is known when 0
    asks for any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock
