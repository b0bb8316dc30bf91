"""Real processes for the gateway's integration tests: `sloserve engine-sim` engines and
`sloserve gateway`, each on a free loopback port, stopped by their own process ids."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

MODEL = "test-model"
KEY = "key-all"
TENANTS = {
    "tenants": [
        {"name": "all", "keys": [KEY]},
        {"name": "batch-only", "keys": ["key-batch"], "allowedClasses": ["batch"]},
    ]
}
CLASSES = [
    {"name": "interactive", "ttft": "500ms", "tpot": "50ms"},
    {"name": "standard", "ttft": "3s", "tpot": "30ms"},
    {"name": "batch", "ttft": "15s", "tpot": "50ms"},
]
SLOSERVE = str(Path(sys.executable).parent / "sloserve")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Processes:
    """Starts servers and stops every one of them (SIGTERM, then SIGKILL) on `stop_all`."""

    workdir: Path
    servers: list[Server] = field(default_factory=list)

    def _start(self, command: Sequence[str], *, port: int, ready_path: str) -> Server:
        log = self.workdir / f"server-{len(self.servers)}.log"
        process = subprocess.Popen(list(command), stdout=log.open("wb"), stderr=subprocess.STDOUT)
        server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log)
        self.servers.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{command[:2]} exited early:\n{server.log_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(server.url + ready_path, timeout=1).status_code == 200:
                    return server
            time.sleep(0.1)
        raise RuntimeError(f"{command[:2]} not ready in 60 s:\n{server.log_text()}")

    def engine(self, *, time_scale: float, extra: Sequence[str] = ()) -> Server:
        port = free_port()
        return self._start(
            [
                SLOSERVE,
                "engine-sim",
                f"--model={MODEL}",
                "--host=127.0.0.1",
                f"--port={port}",
                "--profile=synthetic",
                f"--time-scale={time_scale}",
                "--uvicorn-log-level=warning",
                *extra,
            ],
            port=port,
            ready_path="/health",
        )

    def gateway(
        self,
        engines: Sequence[Server],
        *,
        max_num_seqs: int = 256,
        grace_period_s: float = 10.0,
        classes: Sequence[dict[str, str]] = CLASSES,
        extra: Sequence[str] = (),
    ) -> Server:
        port = free_port()
        models = self.workdir / f"models-{port}.yaml"
        models.write_text(
            yaml.safe_dump(
                {
                    "models": [
                        {
                            "model": MODEL,
                            "profile": "synthetic",
                            "maxNumSeqs": max_num_seqs,
                            "sloClasses": list(classes),
                            "defaultClass": "standard",
                            "engines": [engine.url for engine in engines],
                        }
                    ]
                }
            )
        )
        tenants = self.workdir / f"tenants-{port}.yaml"
        tenants.write_text(yaml.safe_dump(TENANTS))
        return self._start(
            [
                SLOSERVE,
                "gateway",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--config={models}",
                f"--tenants={tenants}",
                f"--grace-period={grace_period_s}",
                *extra,
            ],
            port=port,
            ready_path="/readyz",
        )

    def stop_all(self) -> None:
        for server in self.servers:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        for server in self.servers:
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def set_fault(engine: Server, **setting: Any) -> None:
    httpx.post(f"{engine.url}/sim/fault", json=setting, timeout=5).raise_for_status()


# Engine slowdowns that hold a request at an engine-sim for as long as a test needs and then let it
# run out: at HOLD a token of the synthetic profile takes about 0.75 s (a step already started
# ends within that), at RELEASE about 1 ms. A test that must see a request still running at some
# point holds it there and releases it after, instead of betting on how long it takes.
HOLD = 100.0
RELEASE = 0.01


def set_slowdown(engine: Server, factor: float) -> None:
    httpx.post(f"{engine.url}/sim/slowdown", json={"factor": factor}, timeout=5).raise_for_status()


def engine_running(engine: Server) -> int:
    state = httpx.get(f"{engine.url}/sim/state", timeout=5).json()
    return int(state["num_requests_running"]) + int(state["num_requests_waiting"])


def metric_value(gateway: Server, name: str, **labels: str) -> float:
    """Sum of a gateway metric's samples whose labels include `labels`."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{gateway.url}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def wait_until(condition: Any, *, timeout_s: float = 10.0, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sse_payloads(raw: bytes) -> list[Any]:
    """The JSON payloads of a raw SSE body, with "[DONE]" kept as a string."""
    payloads: list[Any] = []
    for event in raw.split(b"\n\n"):
        if event.startswith(b"data: "):
            data = event[len(b"data: ") :]
            payloads.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return payloads


@contextlib.contextmanager
def processes(workdir: Path) -> Iterator[Processes]:
    running = Processes(workdir=workdir)
    try:
        yield running
    finally:
        running.stop_all()
