"""Start and stop the processes a gateway benchmark runs: engine simulators, sloserve's gateway,
vllm-router. Every process listens on a free loopback port and is stopped (SIGTERM, then SIGKILL)
when the stack closes."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

SCORPIO_CLASSES = [
    {"name": "interactive", "ttft": "500ms", "tpot": "50ms"},
    {"name": "standard", "ttft": "3s", "tpot": "30ms"},
    {"name": "batch", "ttft": "15s", "tpot": "50ms"},
]
BENCH_KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def venv_tool(name: str) -> str:
    """A console script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed in this environment")
    return found


def machine() -> dict[str, object]:
    """The machine, and how busy it was (other work shares it): load averages over 1, 5, 15 min."""
    return {
        "cpus": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
    }


@dataclass
class Stack:
    """The processes of one benchmark run."""

    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, command: Sequence[str], *, ready_url: str, timeout_s: float = 60.0) -> None:
        log = (self.workdir / f"{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"{command[0]} exited with {process.returncode}; see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise SystemExit(f"{' '.join(command)} not ready at {ready_url} in {timeout_s} s")

    def pids(self) -> list[int]:
        """Process ids in the order the processes were started."""
        return [process.pid for process in self.processes]

    def engine(
        self, *, model: str, profile: str, time_scale: float, extra: Sequence[str] = ()
    ) -> str:
        port = free_port()
        self.start(
            [
                venv_tool("sloserve"),
                "engine-sim",
                f"--model={model}",
                f"--served-model-name={model}",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--profile={profile}",
                f"--time-scale={time_scale}",
                "--uvicorn-log-level=warning",
                *extra,
            ],
            ready_url=f"http://127.0.0.1:{port}/health",
        )
        return f"http://127.0.0.1:{port}"

    def sloserve(
        self,
        *,
        model: str,
        profile: str,
        engines: list[str],
        policy: str,
        max_num_seqs: int = 256,
        classes: Sequence[dict[str, str]] = tuple(SCORPIO_CLASSES),
        default_class: str = "standard",
        extra: Sequence[str] = (),
    ) -> str:
        port = free_port()
        models = self.workdir / f"models-{port}.yaml"
        models.write_text(
            yaml.safe_dump(
                {
                    "models": [
                        {
                            "model": model,
                            "profile": profile,
                            "maxNumSeqs": max_num_seqs,
                            "sloClasses": list(classes),
                            "defaultClass": default_class,
                            "engines": engines,
                        }
                    ]
                }
            )
        )
        tenants = self.workdir / f"tenants-{port}.yaml"
        tenants.write_text(yaml.safe_dump({"tenants": [{"name": "bench", "keys": [BENCH_KEY]}]}))
        self.start(
            [
                venv_tool("sloserve"),
                "gateway",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--config={models}",
                f"--tenants={tenants}",
                f"--policy={policy}",
                "--log-level=warning",
                *extra,
            ],
            ready_url=f"http://127.0.0.1:{port}/readyz",
        )
        return f"http://127.0.0.1:{port}"

    def vllm_router(self, *, engines: list[str]) -> str:
        port = free_port()
        self.start(
            [
                venv_tool("vllm-router"),
                "--host=127.0.0.1",
                f"--port={port}",
                "--policy=round_robin",
                f"--prometheus-port={free_port()}",
                "--log-level=warning",
                "--worker-urls",
                *engines,
            ],
            ready_url=f"http://127.0.0.1:{port}/health",
        )
        return f"http://127.0.0.1:{port}"

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def stack() -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="sloserve-bench-") as workdir:
        running = Stack(workdir=Path(workdir))
        try:
            yield running
        finally:
            running.close()
