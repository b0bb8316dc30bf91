"""Simulated engine failures, as a gateway in front of a real `sloserve engine-sim` sees them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from server_helpers import MODEL, RunningServer, engine_sim_process

from sloserve.engine.server import faults


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with engine_sim_process(tmp_path_factory.mktemp("faults"), "--time-scale", "0.05") as running:
        yield running


@pytest.fixture
def fault(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url) as client:
        yield client
        client.post("/sim/fault", json={"mode": "none"})


def test_a_stream_dies_after_the_set_number_of_tokens(fault: httpx.Client) -> None:
    fault.post("/sim/fault", json={"mode": "die_mid_stream", "after_tokens": 3})
    body = {"model": MODEL, "prompt": "x", "max_tokens": 10, "stream": True}
    received: list[str] = []
    with fault.stream("POST", "/v1/completions", json=body) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            received.extend(_data_lines(response))
    assert len(received) == 3
    assert "data: [DONE]" not in received
    assert fault.get("/sim/state").json()["kv_blocks_used"] == 0


def test_requests_shorter_than_the_fault_complete(fault: httpx.Client) -> None:
    fault.post("/sim/fault", json={"mode": "die_mid_stream", "after_tokens": 3})
    body = {"model": MODEL, "prompt": "x", "max_tokens": 3, "stream": True}
    with fault.stream("POST", "/v1/completions", json=body) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"


def test_refusing_answers_500_and_fails_health(fault: httpx.Client) -> None:
    fault.post("/sim/fault", json={"mode": "refuse"})
    response = fault.post("/v1/completions", json={"model": MODEL, "prompt": "x"})
    assert response.status_code == 500
    assert fault.get("/health").status_code == 500


def test_exit_ends_the_process_mid_stream(tmp_path_factory: pytest.TempPathFactory) -> None:
    with engine_sim_process(tmp_path_factory.mktemp("exit"), "--time-scale", "0.05") as server:
        httpx.post(f"{server.base_url}/sim/fault", json={"mode": "exit", "after_tokens": 2})
        body = {"model": MODEL, "prompt": "x", "max_tokens": 10, "stream": True}
        with httpx.stream("POST", f"{server.base_url}/v1/completions", json=body) as response:
            assert response.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):
                list(_data_lines(response))
        assert server.process.wait(timeout=10) == faults.EXIT_STATUS


def _data_lines(response: httpx.Response) -> Iterator[str]:
    """SSE data lines as they arrive (raises when the connection breaks)."""
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield line
