"""Engine-simulator servers for tests: in-process (ASGI) and as a real `sloserve engine-sim`."""

from __future__ import annotations

import contextlib
import json
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from engine_helpers import PROFILE

from sloserve.engine import config
from sloserve.engine.server import app as server_app
from sloserve.engine.server import runtime

MODEL = "sim-llama"


def settings(
    *, policy: config.Policy = config.Policy.FCFS, time_scale: float = 0.0
) -> runtime.ServerSettings:
    engine = config.EngineConfig(
        max_num_seqs=64, max_num_batched_tokens=2048, num_gpu_blocks=2048, policy=policy
    )
    return runtime.ServerSettings(
        model="meta-llama/Llama-3.1-8B",
        served_model_names=(MODEL,),
        profile=PROFILE,
        engine=engine,
        time_scale=time_scale,
    )


@contextlib.asynccontextmanager
async def in_process(
    server_settings: runtime.ServerSettings,
) -> AsyncIterator[tuple[httpx.AsyncClient, runtime.ServerRuntime]]:
    """A started app and an httpx client talking to it through ASGI."""
    app = server_app.create_app(server_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
            yield client, app.state.runtime


def sse_payloads(body: str) -> list[Any]:
    """The events of an SSE body, checking vLLM's framing: `data: ...` events ended by a blank
    line; JSON payloads, then the literal [DONE]."""
    assert body.endswith("\n\n"), "the stream must end with a complete event"
    events = body[: -len("\n\n")].split("\n\n")
    assert all(e.startswith("data: ") for e in events), events
    payloads: list[Any] = [e[len("data: ") :] for e in events]
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]] + ["[DONE]"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningServer:
    """A `sloserve engine-sim` process."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: pathlib.Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _command() -> list[str]:
    script = pathlib.Path(sys.executable).with_name("sloserve")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from sloserve.cli import main; main()"]


@contextlib.contextmanager
def engine_sim_process(log_dir: pathlib.Path, *extra: str) -> Iterator[RunningServer]:
    """Run `sloserve engine-sim --profile synthetic` on a free loopback port until healthy."""
    port = free_port()
    log = log_dir / f"engine-sim-{port}.log"
    command = [
        *_command(),
        "engine-sim",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--profile", "synthetic",
        "--served-model-name", MODEL,
        *extra,
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    server = RunningServer(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(server: RunningServer, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"engine-sim exited early:\n{server.log_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"engine-sim did not become healthy:\n{server.log_text()}")
