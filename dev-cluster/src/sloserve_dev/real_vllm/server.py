"""vLLM's OpenAI server as a process on 127.0.0.1: started, awaited, stopped.

The server runs as the leader of its own process group (vLLM starts an engine-core process of
its own), so stopping it stops the engine too. It only ever listens on loopback.
"""

from __future__ import annotations

import contextlib
import pathlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import httpx

from sloserve_dev import processes
from sloserve_dev.real_vllm import environment

LOOPBACK = "127.0.0.1"
#: vLLM on this 2-core CPU: 30 s with a warm compile cache, up to ~80 s cold, longer when the
#: machine is busy.
DEFAULT_READY_TIMEOUT_S = 420.0
_POLL_INTERVAL_S = 0.5


class ServerError(RuntimeError):
    """vLLM exited or did not become ready; the message ends with its log."""


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """How the server is started. `max_model_len` small enough that an over-length prompt is
    cheap to send; `max_num_seqs` small enough that queueing shows; `kv_cache_gib` the KV cache
    (`VLLM_CPU_KVCACHE_SPACE`); `extra_args` appended to the command line as they are."""

    served_model_name: str = "tiny-llama"
    max_model_len: int = 1024
    max_num_seqs: int = 4
    kv_cache_gib: float = 1.0
    extra_args: tuple[str, ...] = ()

    def arguments(self, *, model: pathlib.Path, port: int) -> list[str]:
        return [
            f"--model={model}",
            f"--served-model-name={self.served_model_name}",
            f"--host={LOOPBACK}",
            f"--port={port}",
            f"--max-model-len={self.max_model_len}",
            f"--max-num-seqs={self.max_num_seqs}",
            "--dtype=bfloat16",
            *self.extra_args,
        ]


@dataclass(frozen=True)
class RunningServer:
    """A vLLM server process: `url` is its base URL on loopback; its output goes to `log`."""

    process: subprocess.Popen[bytes]
    port: int
    log: pathlib.Path
    served_model_name: str

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


def free_port() -> int:
    """A port nothing on 127.0.0.1 listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def command(env: environment.VllmEnvironment, arguments: Sequence[str]) -> list[str]:
    """The command line that runs vLLM's OpenAI server with `arguments`."""
    return [str(env.python), "-m", environment.OPENAI_SERVER_MODULE, *arguments]


def start(
    env: environment.VllmEnvironment,
    *,
    model: pathlib.Path,
    run_dir: pathlib.Path,
    options: ServerOptions = ServerOptions(),
) -> RunningServer:
    """Start the server (not yet ready: see `wait_ready`); its log is `run_dir/vllm.log`, its
    temporary files under `run_dir/tmp`."""
    port = free_port()
    return launch(
        env,
        arguments=options.arguments(model=model, port=port),
        port=port,
        served_model_name=options.served_model_name,
        run_dir=run_dir,
        kv_cache_gib=options.kv_cache_gib,
    )


def launch(
    env: environment.VllmEnvironment,
    *,
    arguments: Sequence[str],
    port: int,
    served_model_name: str,
    run_dir: pathlib.Path,
    kv_cache_gib: float = 1.0,
) -> RunningServer:
    """Start the server with a command line made elsewhere (the operator's engine arguments,
    say), which must make it listen on 127.0.0.1:`port`; not yet ready: see `wait_ready`."""
    if f"--host={LOOPBACK}" not in arguments:
        raise ValueError(f"vLLM must listen on loopback only: pass --host={LOOPBACK}")
    temp_dir = run_dir / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "vllm.log"
    process = processes.spawn(
        argv=command(env, arguments),
        log_path=log,
        env=env.process_env(temp_dir=temp_dir, kv_cache_gib=kv_cache_gib),
        cwd=run_dir,
        tie_to_parent=True,
    )
    return RunningServer(process=process, port=port, log=log, served_model_name=served_model_name)


def wait_ready(
    server: RunningServer,
    *,
    timeout_s: float = DEFAULT_READY_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """Wait until `/health` answers 200; returns the seconds waited. Raises ServerError when
    the process exits first or `timeout_s` passes."""
    started = clock()
    with httpx.Client(timeout=5.0) as client:
        while True:
            if server.process.poll() is not None:
                raise ServerError(
                    f"vLLM exited with status {server.process.returncode} while starting; "
                    f"its log {server.log} ends with:\n{processes.log_tail(server.log)}"
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{server.url}/health").status_code == 200:
                    return clock() - started
            if clock() - started > timeout_s:
                raise ServerError(
                    f"vLLM did not answer /health within {timeout_s:.0f} s; its log "
                    f"{server.log} ends with:\n{processes.log_tail(server.log)}"
                )
            time.sleep(_POLL_INTERVAL_S)


def stop(server: RunningServer, *, grace_s: float = 15.0) -> None:
    """SIGTERM to the server's process group, SIGKILL after `grace_s`; waits for both."""
    processes.stop_groups([server.pid], grace_s=grace_s)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=1.0)


@contextlib.contextmanager
def serving(
    env: environment.VllmEnvironment,
    *,
    model: pathlib.Path,
    run_dir: pathlib.Path,
    options: ServerOptions = ServerOptions(),
    timeout_s: float = DEFAULT_READY_TIMEOUT_S,
) -> Iterator[RunningServer]:
    """A ready server for the duration of the block, stopped afterwards whatever happens."""
    server = start(env, model=model, run_dir=run_dir, options=options)
    try:
        wait_ready(server, timeout_s=timeout_s)
        yield server
    finally:
        stop(server)


@dataclass(frozen=True)
class Exited:
    """A server run that ended by itself: its exit status and everything it wrote."""

    returncode: int
    output: str


def run_until_exit(
    env: environment.VllmEnvironment,
    *,
    arguments: Sequence[str],
    run_dir: pathlib.Path,
    kv_cache_gib: float = 1.0,
    timeout_s: float = 120.0,
) -> Exited:
    """Run the server with `arguments` that are expected to make it exit (a bad flag, say), and
    return how it ended. Raises ServerError if it is still running after `timeout_s`."""
    temp_dir = run_dir / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    try:
        completed = subprocess.run(
            command(env, arguments),
            env=env.process_env(temp_dir=temp_dir, kv_cache_gib=kv_cache_gib),
            cwd=run_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as expired:
        raise ServerError(
            f"vLLM was still running after {timeout_s:.0f} s with {list(arguments)}"
        ) from expired
    return Exited(returncode=completed.returncode, output=completed.stdout + completed.stderr)
