"""How an engine pod stops: a preStop hook that waits for the engine's requests to end, within
the ModelService's drain time, and a grace period derived from it. The hook itself is run here
as the kubelet runs it, against a stand-in engine's /metrics on loopback."""

from __future__ import annotations

import http.server
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from builder_specs import DEFAULTS, container, make_spec, pod_spec, vllm_spec

from sloserve.builders import drain
from sloserve.builders.defaults import EngineDefaults

DRAIN_WAIT = Path(drain.__file__).with_name("drain_wait.py")


def test_the_grace_period_is_the_drain_time_plus_the_shutdown_allowance() -> None:
    assert pod_spec(make_spec())["terminationGracePeriodSeconds"] == 120 + 30
    assert pod_spec(make_spec(drainSeconds=600))["terminationGracePeriodSeconds"] == 630
    defaults = EngineDefaults(sim_image="x", drain_seconds=45, shutdown_grace_s=10)
    assert pod_spec(make_spec(), defaults)["terminationGracePeriodSeconds"] == 55


def test_the_pre_stop_hook_runs_the_drain_wait_on_the_engine_port() -> None:
    hook = container(vllm_spec(port=9000), DEFAULTS)["lifecycle"]["preStop"]
    command = hook["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert command[3:] == ["drain", drain.drain_script(), "9000", "120", "5"]


def test_the_hook_carries_the_drain_wait_without_its_docstring_and_comments() -> None:
    script = drain.drain_script()
    assert "def wait_until_idle(" in script
    assert "#" not in script.replace('"#', "")
    assert "Runs inside the engine container" not in script
    assert len(script) < len(DRAIN_WAIT.read_text()) * 0.75
    compile(script, "drain_wait", "exec")


def test_the_drain_time_of_the_spec_bounds_the_wait() -> None:
    command = container(make_spec(drainSeconds=3))["lifecycle"]["preStop"]["exec"]["command"]
    assert command[-2:] == ["3", "3"]


def test_no_drain_time_means_no_hook_and_only_the_shutdown_allowance() -> None:
    spec = make_spec(drainSeconds=0)
    assert "lifecycle" not in container(spec)
    assert pod_spec(spec)["terminationGracePeriodSeconds"] == 30


def test_no_engine_pod_uses_the_pre_stop_sleep_action() -> None:
    # `preStop.sleep` needs Kubernetes 1.30; the chart supports older clusters.
    hook = container(vllm_spec())["lifecycle"]["preStop"]
    assert set(hook) == {"exec"}


def test_a_crash_reports_the_end_of_the_engines_log() -> None:
    assert container(vllm_spec())["terminationMessagePolicy"] == "FallbackToLogsOnError"


class _Engine:
    """A stand-in engine: answers /metrics with the running and waiting counts that `load`
    gives for each poll, and records how many polls it answered."""

    def __init__(self, load: Callable[[int], tuple[int, int]]) -> None:
        self.polls = 0
        engine = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                running, waiting = load(engine.polls)
                engine.polls += 1
                body = (
                    "# TYPE vllm:num_requests_running gauge\n"
                    f'vllm:num_requests_running{{engine="0",model_name="m"}} {running}.0\n'
                    f'vllm:num_requests_waiting{{engine="0",model_name="m"}} {waiting}.0\n'
                    "vllm:num_requests_running_total 99\n"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def engine_with() -> Iterator[Callable[[Callable[[int], tuple[int, int]]], _Engine]]:
    engines: list[_Engine] = []

    def start(load: Callable[[int], tuple[int, int]]) -> _Engine:
        engines.append(_Engine(load))
        return engines[-1]

    yield start
    for engine in engines:
        engine.close()


def _run_hook(port: int, *, deadline_s: int, settle_s: int) -> subprocess.CompletedProcess[str]:
    spec = make_spec(engine={"port": port}, drainSeconds=deadline_s)
    defaults = EngineDefaults(sim_image="x", drain_delay_s=settle_s)
    command = container(spec, defaults)["lifecycle"]["preStop"]["exec"]["command"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


def test_the_hook_returns_once_running_and_waiting_requests_are_gone(
    engine_with: Callable[[Callable[[int], tuple[int, int]]], _Engine],
) -> None:
    # Busy for three polls (running, then only waiting), then idle.
    engine = engine_with(lambda poll: [(2, 1), (1, 0), (0, 1)][poll] if poll < 3 else (0, 0))
    finished = _run_hook(engine.port, deadline_s=30, settle_s=0)
    assert "no request left" in finished.stderr
    # It saw the three busy polls, then two idle ones in a row, and stopped there.
    assert engine.polls == 5


def test_the_hook_waits_at_least_the_settle_time_even_when_idle(
    engine_with: Callable[[Callable[[int], tuple[int, int]]], _Engine],
) -> None:
    engine = engine_with(lambda poll: (0, 0))
    finished = _run_hook(engine.port, deadline_s=30, settle_s=4)
    assert "no request left" in finished.stderr
    # Two idle polls would have sufficed; the settle time kept it polling longer.
    assert engine.polls >= 3
    seconds = int(finished.stderr.split("drained in ", 1)[1].split(" s", 1)[0])
    assert seconds >= 4


def test_the_hook_gives_up_at_the_drain_deadline(
    engine_with: Callable[[Callable[[int], tuple[int, int]]], _Engine],
) -> None:
    engine = engine_with(lambda poll: (1, 0))
    finished = _run_hook(engine.port, deadline_s=3, settle_s=0)
    assert "the drain deadline passed" in finished.stderr
    assert 1 <= engine.polls <= 3


def test_the_hook_returns_when_the_engine_no_longer_answers() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    finished = _run_hook(port, deadline_s=60, settle_s=0)
    assert "the engine does not answer" in finished.stderr
