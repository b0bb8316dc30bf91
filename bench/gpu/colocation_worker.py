"""A long-lived worker process: one CUDA context, one family of workloads, timed windows on request.

Protocol over a multiprocessing pipe. The worker first sends ("ready", info) or ("error", text).
Then, for each ("run", kind, start_at, measure_from, stop_at) it runs that kind's steps back to
back from `start_at` until `stop_at` (time.monotonic() seconds, shared by all processes of the
host) and answers ("done", durations_ms, steps_started), where durations_ms holds the steps that
began at or after `measure_from` and ended by `stop_at`. ("quit",) ends it. A kind with a duty
cycle below 1 idles after each step of d seconds for d·(1/duty − 1) before its next step.
"""

from __future__ import annotations

import os
import time
import traceback
from multiprocessing.connection import Connection

import colocation_workloads
import torch

WARM_STEPS = 3


def serve(connection: Connection, spec: colocation_workloads.WorkerSpec) -> None:
    """Entry point of a worker process (a multiprocessing target)."""
    try:
        if torch.cuda.is_available():
            device = torch.device("cuda", 0)
            torch.cuda.set_device(device)
        else:
            device = torch.device("cpu")
        runners, sizes = colocation_workloads.build_runners(spec, device)
        duty = {kind.name: kind.duty for kind in spec.kinds}
        warm_ms = {name: _warm_step_ms(runner) for name, runner in runners.items()}
        info = {
            "pid": os.getpid(),
            "family": spec.family,
            "torch": torch.__version__,
            "warm_step_ms": warm_ms,
            "reserved_bytes": torch.cuda.memory_reserved(device) if device.type == "cuda" else 0,
            "mps_active_thread_percentage": os.environ.get("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"),
            **sizes,
        }
    except Exception:
        connection.send(("error", traceback.format_exc()))
        return
    connection.send(("ready", info))
    while True:
        message = connection.recv()
        if message[0] == "quit":
            return
        _, kind, start_at, measure_from, stop_at = message
        durations, started = _run_window(
            runners[kind],
            start_at=start_at,
            measure_from=measure_from,
            stop_at=stop_at,
            duty=duty[kind],
        )
        connection.send(("done", durations, started))


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _warm_step_ms(runner: colocation_workloads.Runner) -> float:
    for _ in range(WARM_STEPS):
        runner()
    _synchronize()
    began = time.monotonic()
    runner()
    _synchronize()
    return (time.monotonic() - began) * 1e3


def _run_window(
    runner: colocation_workloads.Runner,
    *,
    start_at: float,
    measure_from: float,
    stop_at: float,
    duty: float = 1.0,
) -> tuple[list[float], int]:
    # Every step is followed by a synchronize, as a serving engine waits for each step's tokens.
    time.sleep(max(0.0, start_at - time.monotonic()))
    durations: list[float] = []
    started = 0
    while (began := time.monotonic()) < stop_at:
        runner()
        _synchronize()
        ended = time.monotonic()
        started += 1
        if began >= measure_from and ended <= stop_at:
            durations.append((ended - began) * 1e3)
        if duty < 1.0:
            time.sleep(min((ended - began) * (1.0 / duty - 1.0), max(0.0, stop_at - ended)))
    return durations, started
