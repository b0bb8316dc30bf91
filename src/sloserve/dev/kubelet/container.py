"""Running one container as a local process: start, probe, restart with back-off, stop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import os
import pathlib
import signal
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from sloserve.dev import pidfiles, processes
from sloserve.dev.kubelet import api, images, objects, probes, sockets, timestamps

# How long a container whose configuration cannot be resolved waits before trying again.
_CONFIG_RETRY_S = 5.0
# When, after the previous check, to look for servers bound to all addresses.
_LISTEN_CHECK_DELAYS_S = (2.0, 5.0, 20.0)

EventSink = Callable[[str, str, str], None]
"""Records an Event for the container: (type Normal|Warning, reason, message)."""


@dataclasses.dataclass(frozen=True)
class Launch:
    """Everything needed to start the container's process."""

    argv: list[str]
    env: dict[str, str]
    cwd: pathlib.Path
    log_path: pathlib.Path
    probe_target: probes.ProbeTarget
    # Whether the process gets its own mount namespace (exec probes then enter it).
    own_mount_namespace: bool = False


class Launcher(Protocol):
    async def prepare(self, container: api.JsonObject, *, attempt: int) -> Launch:
        """Resolves the container's command, env and mounts for its `attempt`-th start.
        Raises objects.ConfigError or images.ImageNotRunnableError."""
        ...


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Delay before restarting a container that exited: none the first time, then `initial_s`,
    doubling up to `max_s`; a container that ran for twice `max_s` starts over."""

    initial_s: float = 10.0
    max_s: float = 300.0

    def delay(self, restarts_in_a_row: int) -> float:
        if restarts_in_a_row <= 1:
            return 0.0
        return float(min(self.initial_s * 2 ** (restarts_in_a_row - 2), self.max_s))


def _state_waiting(reason: str, message: str = "") -> api.JsonObject:
    waiting: api.JsonObject = {"reason": reason}
    if message:
        waiting["message"] = message
    return {"waiting": waiting}


class ContainerRunner:
    """One container of a pod, from its first start until it will not run again."""

    def __init__(
        self,
        *,
        container: api.JsonObject,
        launcher: Launcher,
        restart_policy: str,
        backoff: Backoff,
        grace_s: float,
        pids: pidfiles.PidRegistry,
        on_change: Callable[[], None],
        record_event: EventSink,
        clock: Callable[[], datetime.datetime] = timestamps.now,
    ) -> None:
        self.name: str = container["name"]
        self._container = container
        self._launcher = launcher
        self._restart_policy = restart_policy
        self._backoff = backoff
        self._grace_s = grace_s
        self._pids = pids
        self._on_change = on_change
        self._event = record_event
        self._clock = clock
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._probe_tasks: list[asyncio.Task[None]] = []
        self.state: api.JsonObject = _state_waiting("ContainerCreating")
        self.last_state: api.JsonObject = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.container_id = ""
        self.exit_code: int | None = None
        # One log file per start, oldest first.
        self.log_paths: list[pathlib.Path] = []

    def status(self) -> api.JsonObject:
        """The container's entry in the pod's containerStatuses."""
        entry: api.JsonObject = {
            "name": self.name,
            "image": self._container.get("image", ""),
            "imageID": self._container.get("image", ""),
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            entry["containerID"] = self.container_id
        return entry

    def _set(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        self._on_change()

    def _should_restart(self, exit_code: int) -> bool:
        if self._restart_policy == "Always":
            return True
        return self._restart_policy == "OnFailure" and exit_code != 0

    async def run(self) -> int | None:
        """Runs the container until it exits for good (per the restart policy) or `stop` is
        called; returns its last exit code, None when it never ran."""
        attempt = 0
        restarts_in_a_row = 0
        while not self._stopping:
            try:
                launch = await self._launcher.prepare(self._container, attempt=attempt)
            except (objects.ConfigError, images.ImageNotRunnableError) as error:
                reason = (
                    error.reason
                    if isinstance(error, images.ImageNotRunnableError)
                    else "CreateContainerConfigError"
                )
                self._set(state=_state_waiting(reason, str(error)))
                self._event("Warning", "Failed", f"Error: {error}")
                await self._pause(_CONFIG_RETRY_S)
                continue
            if self._stopping:
                break
            exit_code, ran_for = await self._run_once(launch, attempt=attempt)
            attempt += 1
            if self._stopping or not self._should_restart(exit_code):
                return exit_code
            restarts_in_a_row = 1 if ran_for > 2 * self._backoff.max_s else restarts_in_a_row + 1
            delay = self._backoff.delay(restarts_in_a_row)
            if delay > 0:
                message = f"back-off {delay:.0f}s restarting failed container={self.name}"
                self._set(last_state=self.state, state=_state_waiting("CrashLoopBackOff", message))
                self._event(
                    "Warning", "BackOff", f"Back-off restarting failed container {self.name}"
                )
                await self._pause(delay)
        return self.exit_code

    async def _pause(self, seconds: float) -> None:
        """Sleeps, but returns at once when `stop` is (or was) called."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def log_path(self, *, previous: bool) -> pathlib.Path | None:
        """The log of the current (or, with `previous`, the one before) start, if any."""
        index = len(self.log_paths) - (2 if previous else 1)
        return self.log_paths[index] if index >= 0 else None

    async def _run_once(self, launch: Launch, *, attempt: int) -> tuple[int, float]:
        launch.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_paths.append(launch.log_path)
        started_at = self._clock()
        try:
            with launch.log_path.open("ab") as log:
                process = await asyncio.create_subprocess_exec(
                    *launch.argv,
                    env=launch.env,
                    cwd=launch.cwd,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=processes.die_with_parent,
                )
        except OSError as error:
            # As a runtime reports a container it could not start: exit code 128, StartError.
            moment = timestamps.rfc3339(started_at)
            failed = {
                "exitCode": 128,
                "reason": "StartError",
                "message": f"{launch.argv[0]}: {error}",
                "startedAt": moment,
                "finishedAt": moment,
            }
            self._set(state={"terminated": failed}, ready=False, exit_code=128)
            self._event("Warning", "Failed", f"Error: {error}")
            return 128, 0.0
        self._process = process
        self._pids.add(process.pid, f"container {self.name}")
        previous = self.state if attempt > 0 and "terminated" in self.state else self.last_state
        self._set(
            state={"running": {"startedAt": timestamps.rfc3339(started_at)}},
            last_state=previous,
            restart_count=attempt,
            container_id=f"sloserve-local://{process.pid}",
            started=False,
            ready=False,
        )
        self._event("Normal", "Started", f"Started container {self.name}")
        target = launch.probe_target
        if launch.own_mount_namespace:
            enter = ("nsenter", f"--target={process.pid}", "--mount", "--")
            target = dataclasses.replace(target, exec_prefix=enter)
        self._start_probes(target)
        self._probe_tasks.append(asyncio.create_task(self._check_listen_addresses(process.pid)))
        if self._stopping:
            # `stop` came while the process was being created, so it could not signal it.
            await _terminate(process, grace_s=0)
        try:
            returncode = await process.wait()
        except asyncio.CancelledError:
            for task in self._probe_tasks:
                task.cancel()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            self._pids.remove(process.pid)
            raise
        await self._cancel_probes()
        # The container ends with its main process, as it would in a real runtime.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        self._pids.remove(process.pid)
        self._process = None
        finished_at = self._clock()
        exit_code = returncode if returncode >= 0 else 128 - returncode
        terminated: api.JsonObject = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": timestamps.rfc3339(started_at),
            "finishedAt": timestamps.rfc3339(finished_at),
            "containerID": f"sloserve-local://{process.pid}",
        }
        if returncode < 0:
            terminated["signal"] = -returncode
        self._set(state={"terminated": terminated}, ready=False, exit_code=exit_code)
        return exit_code, (finished_at - started_at).total_seconds()

    def _start_probes(self, target: probes.ProbeTarget) -> None:
        startup = self._container.get("startupProbe")
        started = asyncio.Event()
        if startup is None:
            self._set(started=True)
            started.set()
        loops: list[Coroutine[Any, Any, None]] = []
        if startup is not None:
            loops.append(self._startup_loop(startup, target, started))
        liveness = self._container.get("livenessProbe")
        if liveness is not None:
            loops.append(self._liveness_loop(liveness, target, started))
        loops.append(self._readiness_loop(self._container.get("readinessProbe"), target, started))
        self._probe_tasks = [asyncio.create_task(loop) for loop in loops]

    async def _check_listen_addresses(self, pgid: int) -> None:
        """Warns (an Event) when the container listens on all addresses, a few times while it
        starts, since servers bind their ports some time after they start."""
        for delay in _LISTEN_CHECK_DELAYS_S:
            await asyncio.sleep(delay)
            ports = sockets.wildcard_ports(pgid)
            if ports:
                self._event(
                    "Warning",
                    "ListensOnAllAddresses",
                    f"container {self.name} listens on all addresses on port(s) {ports}: pods "
                    "share this machine's network, so bind the pod's address ($(POD_IP))",
                )
                return

    async def _cancel_probes(self) -> None:
        for task in self._probe_tasks:
            task.cancel()
        await asyncio.gather(*self._probe_tasks, return_exceptions=True)
        self._probe_tasks = []

    async def _probe_until_verdict(
        self, manifest: api.JsonObject, target: probes.ProbeTarget, *, kind: str, initial: bool
    ) -> bool:
        """Probes until the verdict flips away from `initial`; returns the new verdict."""
        spec = probes.ProbeSpec.from_manifest(manifest)
        verdict = probes.ProbeVerdict(spec, initial=initial)
        await asyncio.sleep(spec.initial_delay_s)
        while True:
            ok, message = await probes.check(spec, target)
            if not ok:
                self._event("Warning", "Unhealthy", f"{kind} probe failed: {message}")
            if verdict.record(ok):
                return verdict.passing
            await asyncio.sleep(spec.period_s)

    async def _startup_loop(
        self, manifest: api.JsonObject, target: probes.ProbeTarget, started: asyncio.Event
    ) -> None:
        if await self._probe_until_verdict(manifest, target, kind="Startup", initial=False):
            self._set(started=True)
            started.set()
            return
        await self._kill_unhealthy("failed startup probe")

    async def _liveness_loop(
        self, manifest: api.JsonObject, target: probes.ProbeTarget, started: asyncio.Event
    ) -> None:
        await started.wait()
        if not await self._probe_until_verdict(manifest, target, kind="Liveness", initial=True):
            await self._kill_unhealthy("failed liveness probe")

    async def _readiness_loop(
        self,
        manifest: api.JsonObject | None,
        target: probes.ProbeTarget,
        started: asyncio.Event,
    ) -> None:
        await started.wait()
        if manifest is None:
            self._set(ready=True)
            return
        spec = probes.ProbeSpec.from_manifest(manifest)
        verdict = probes.ProbeVerdict(spec, initial=False)
        await asyncio.sleep(spec.initial_delay_s)
        while True:
            ok, message = await probes.check(spec, target)
            if not ok and self.ready:
                self._event("Warning", "Unhealthy", f"Readiness probe failed: {message}")
            if verdict.record(ok):
                self._set(ready=verdict.passing)
            await asyncio.sleep(spec.period_s)

    async def _kill_unhealthy(self, why: str) -> None:
        self._event("Normal", "Killing", f"Container {self.name} {why}, will be restarted")
        process = self._process
        if process is not None:
            await _terminate(process, grace_s=self._grace_s)

    async def stop(self, *, grace_s: float) -> None:
        """Stops the container for good: SIGTERM to its process group, SIGKILL after
        `grace_s`. Returns once the process has exited."""
        self._stopping = True
        self._wake.set()
        process = self._process
        if process is not None:
            self._event("Normal", "Killing", f"Stopping container {self.name}")
            await _terminate(process, grace_s=grace_s)


async def _terminate(process: asyncio.subprocess.Process, *, grace_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
