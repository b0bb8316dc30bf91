from __future__ import annotations

import asyncio

import httpx
import numpy as np

from placement.placement_fakes import catalogue_source
from sloserve.placement.metrics import DCGM_FIELDS
from sloserve.placement.sources import PrometheusSource
from sloserve.placement.workloads import GpuWorkload

ENGINE = GpuWorkload(namespace="team", name="engine-0", kind="decode_b32_c1024")


def _source(handler: httpx.MockTransport) -> tuple[PrometheusSource, httpx.AsyncClient]:
    fallback = catalogue_source()
    client = httpx.AsyncClient(base_url="http://prometheus", transport=handler)
    metrics = fallback.catalogue.series("timeslice", "idle").names
    return PrometheusSource(client=client, fallback=fallback, metrics=metrics), client


def _answer(series: dict[str, float]) -> httpx.MockTransport:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["query"])
        result = [
            {"metric": {"__name__": name}, "values": [[t, str(value)] for t in range(10)]}
            for name, value in series.items()
        ]
        return httpx.Response(200, json={"status": "success", "data": {"result": result}})

    transport = httpx.MockTransport(handle)
    transport.seen = seen  # type: ignore[attr-defined]
    return transport


def _resolve(source: PrometheusSource, client: httpx.AsyncClient, *, running: bool) -> object:
    async def go() -> object:
        async with client:
            return await source.resolve(ENGINE, "timeslice", running=running)

    return asyncio.run(go())


def test_a_running_pods_dcgm_series_are_read_and_converted_to_dataset_units() -> None:
    values = {field.series: 0.5 for field in DCGM_FIELDS.values()}
    values["DCGM_FI_DEV_GPU_UTIL"] = 80.0
    values["DCGM_FI_DEV_FB_USED"] = 2048.0
    transport = _answer(values)
    source, client = _source(transport)
    resolved = _resolve(source, client, running=True)
    assert resolved.origin == "DCGM via Prometheus"  # type: ignore[attr-defined]
    metrics = list(source._metrics)
    prepared = resolved.prepared.values  # type: ignore[attr-defined]
    assert np.allclose(prepared[:, metrics.index("sm_util_pct")], 80.0)
    assert np.allclose(prepared[:, metrics.index("mem_used_gib")], 2.0)
    assert np.allclose(prepared[:, metrics.index("gpm_sm_util_pct")], 50.0)
    assert 'pod="engine-0"' in transport.seen[0]  # type: ignore[attr-defined]
    assert 'namespace="team"' in transport.seen[0]  # type: ignore[attr-defined]


def test_a_pod_without_series_falls_back_to_its_kind_and_says_so() -> None:
    source, client = _source(_answer({"DCGM_FI_DEV_GPU_UTIL": 90.0}))
    resolved = _resolve(source, client, running=True)
    assert resolved.origin.startswith("no DCGM series in Prometheus")  # type: ignore[attr-defined]
    assert "decode_b32_c1024" in resolved.origin  # type: ignore[attr-defined]


def test_the_pod_being_placed_is_never_looked_up() -> None:
    transport = _answer({})
    source, client = _source(transport)
    resolved = _resolve(source, client, running=False)
    assert transport.seen == []  # type: ignore[attr-defined]
    assert resolved.origin == "kind decode_b32_c1024"  # type: ignore[attr-defined]
