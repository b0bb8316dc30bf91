"""The picker's servers: gRPC health as the inference extension's picker answers it, TLS by
default, and Prometheus metrics under the gateway's names."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from envoy_client import request_headers
from epp_harness import completion
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def health(epp: Any, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(epp.channel)
    answer = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    return int(answer.status)


async def test_health_answers_liveness_readiness_and_the_ext_proc_service(picker: Any) -> None:
    epp = await picker()
    await epp.until(lambda: epp.ctx.ready(), "readiness")
    for service in ("liveness", "readiness", "envoy.service.ext_proc.v3.ExternalProcessor", ""):
        assert await health(epp, service) == SERVING, service


async def test_readiness_fails_while_draining_and_liveness_does_not(picker: Any) -> None:
    epp = await picker()
    epp.ctx.lifecycle.begin_drain()
    stub = health_pb2_grpc.HealthStub(epp.channel)

    async def readiness() -> int:
        answer = await stub.Check(health_pb2.HealthCheckRequest(service="readiness"))
        return int(answer.status)

    deadline = asyncio.get_running_loop().time() + 5.0
    while await readiness() != NOT_SERVING:
        assert asyncio.get_running_loop().time() < deadline, "readiness still serving"
        await asyncio.sleep(0.02)
    assert await health(epp, "liveness") == SERVING
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{epp.http_port}") as client:
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200


async def test_the_picker_serves_tls_with_its_certificate(picker: Any) -> None:
    epp = await picker(secure=True)
    stream = epp.stream()
    await stream.request_headers(request_headers())
    await stream.request_body(completion(), end_of_stream=True)
    assert (await stream.answer()).kind == "request_headers"


async def test_metrics_carry_the_gateways_names_and_the_queue_gauges(picker: Any) -> None:
    epp = await picker(engines=2)
    stream = epp.stream()
    await stream.request_headers(request_headers())
    await stream.request_body(completion(), end_of_stream=True)
    await stream.answer()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{epp.http_port}") as client:
        page = (await client.get("/metrics")).text
    for name in (
        "sloserve_requests_total",
        "sloserve_requests_admitted_total",
        "sloserve_queue_depth",
        "sloserve_engine_inflight_requests",
        "sloserve_slo_target_seconds",
        "sloserve_queue_time_seconds_bucket",
    ):
        assert name in page, name
    inflight = [
        line
        for line in page.splitlines()
        if line.startswith("sloserve_engine_inflight_requests{") and line.endswith(" 1.0")
    ]
    assert len(inflight) == 1
