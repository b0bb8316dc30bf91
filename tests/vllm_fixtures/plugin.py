"""Real vLLM for tests: the cached virtualenv and tiny model (built on first use), one vLLM
server per session on 127.0.0.1, and an engine simulator started with the same flags.

A test that uses any of these fixtures is marked `vllm`, so `pytest -m "not vllm"` skips them.
The server is started once per session and stopped when the session ends; its start-up time is
kept in `VLLM_TIMINGS` for the records tests write.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sloserve.dev import processes
from sloserve.dev.real_vllm import environment, server, tiny_model

FIXTURES = ("vllm_env", "tiny_model_dir", "real_vllm", "engine_sim_like_vllm")
#: Limits both engines of the conformance test run with: small enough for a 2-core CPU, and
#: `max_model_len` small enough that an over-length prompt is cheap to send.
SERVER_OPTIONS = server.ServerOptions(
    served_model_name="tiny-llama", max_model_len=1024, max_num_seqs=4
)
VLLM_TIMINGS: dict[str, float] = {}
SLOSERVE = str(pathlib.Path(sys.executable).parent / "sloserve")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in FIXTURES):
            item.add_marker(pytest.mark.vllm)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How long real vLLM took, for the record of what the suite costs."""
    if VLLM_TIMINGS:
        shown = ", ".join(f"{name} {value:g} s" for name, value in VLLM_TIMINGS.items())
        terminalreporter.write_line(f"real vLLM {environment.VLLM_VERSION}: {shown}")


@pytest.fixture(scope="session")
def vllm_env() -> environment.VllmEnvironment:
    """The vLLM-on-CPU virtualenv (built into the shared cache the first time: minutes)."""
    started = time.monotonic()
    built = environment.built()
    env = environment.ensure()
    if built is None:
        VLLM_TIMINGS["venv_build_seconds"] = round(time.monotonic() - started, 1)
    return env


@pytest.fixture(scope="session")
def tiny_model_dir(vllm_env: environment.VllmEnvironment) -> pathlib.Path:
    started = time.monotonic()
    made = tiny_model.made(vllm_env)
    model = tiny_model.ensure(vllm_env)
    if made is None:
        VLLM_TIMINGS["tiny_model_seconds"] = round(time.monotonic() - started, 1)
    return model


@pytest.fixture(scope="session")
def real_vllm(
    vllm_env: environment.VllmEnvironment,
    tiny_model_dir: pathlib.Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[server.RunningServer]:
    """vLLM's OpenAI server with the tiny model on 127.0.0.1, shared by the session."""
    run_dir = tmp_path_factory.mktemp("real-vllm")
    running = server.start(vllm_env, model=tiny_model_dir, run_dir=run_dir, options=SERVER_OPTIONS)
    try:
        VLLM_TIMINGS["ready_seconds"] = round(server.wait_ready(running), 1)
        yield running
    finally:
        server.stop(running)


@dataclass(frozen=True)
class EngineSim:
    url: str
    process: subprocess.Popen[bytes]
    log: pathlib.Path


@pytest.fixture(scope="session")
def engine_sim_like_vllm(
    tiny_model_dir: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineSim]:
    """`sloserve engine-sim` started with exactly the vLLM server's arguments, plus its profile."""
    run_dir = tmp_path_factory.mktemp("engine-sim")
    port = server.free_port()
    log = run_dir / "engine-sim.log"
    argv = [
        SLOSERVE,
        "engine-sim",
        *SERVER_OPTIONS.arguments(model=tiny_model_dir, port=port),
        "--profile=synthetic",
        "--uvicorn-log-level=warning",
    ]
    process = processes.spawn(argv=argv, log_path=log, tie_to_parent=True)
    sim = EngineSim(url=f"http://{server.LOOPBACK}:{port}", process=process, log=log)
    try:
        _wait_healthy(sim)
        yield sim
    finally:
        processes.stop_groups([process.pid], grace_s=10)
        process.wait(timeout=5)


def _wait_healthy(sim: EngineSim, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sim.process.poll() is not None:
            raise RuntimeError(f"engine-sim exited:\n{processes.log_tail(sim.log)}")
        try:
            if httpx.get(f"{sim.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"engine-sim not healthy in {timeout_s:.0f} s:\n{processes.log_tail(sim.log)}"
    )
