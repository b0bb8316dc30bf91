"""The /sim endpoints: slowdown at run time, simulated faults, state."""

from __future__ import annotations

import pytest
from server_helpers import MODEL, in_process, settings


async def test_the_slowdown_can_be_changed_while_running() -> None:
    async with in_process(settings()) as (client, state):
        response = await client.post("/sim/slowdown", json={"factor": 2.5})
        assert response.status_code == 200
        assert response.json() == {"slowdown": 2.5}
        assert state.timer.slowdown == 2.5
        assert (await client.get("/sim/state")).json()["slowdown"] == 2.5


@pytest.mark.parametrize("factor", [0, -1])
async def test_a_slowdown_that_is_not_positive_is_refused(factor: float) -> None:
    async with in_process(settings()) as (client, state):
        response = await client.post("/sim/slowdown", json={"factor": factor})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "body.factor"
        assert state.timer.slowdown == 1.0


async def test_the_refuse_fault_fails_requests_and_health_until_cleared() -> None:
    async with in_process(settings()) as (client, _):
        await client.post("/sim/fault", json={"mode": "refuse"})
        refused = await client.post("/v1/completions", json={"model": MODEL, "prompt": "x"})
        assert refused.status_code == 500
        assert refused.json()["error"]["type"] == "InternalServerError"
        assert (await client.get("/health")).status_code == 500
        await client.post("/sim/fault", json={"mode": "none"})
        served = await client.post("/v1/completions", json={"model": MODEL, "prompt": "x"})
        assert served.status_code == 200
        assert (await client.get("/health")).status_code == 200


async def test_a_non_streaming_request_fails_with_500_when_the_engine_dies_under_it() -> None:
    async with in_process(settings()) as (client, state):
        await client.post("/sim/fault", json={"mode": "die_mid_stream", "after_tokens": 2})
        short = await client.post(
            "/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 2}
        )
        long = await client.post(
            "/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 5}
        )
        assert short.status_code == 200
        assert long.status_code == 500
        assert state.runner.snapshot().kv_blocks_used == 0


async def test_an_unknown_fault_mode_is_refused_naming_the_field() -> None:
    async with in_process(settings()) as (client, _):
        response = await client.post("/sim/fault", json={"mode": "explode"})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "body.mode"


async def test_the_state_reports_limits_and_load() -> None:
    async with in_process(settings()) as (client, _):
        state = (await client.get("/sim/state")).json()
    assert state["profile"] == "synthetic"
    assert state["policy"] == "fcfs"
    assert state["num_requests_running"] == 0
    assert state["num_gpu_blocks"] == 2048
