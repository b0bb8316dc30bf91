"""A container's life as a local process: exit codes, restarts, stopping."""

from __future__ import annotations

import asyncio
import pathlib
import sys
from collections.abc import Callable

from sloserve.dev import pidfiles, processes
from sloserve.dev.kubelet import api, container, probes


class _Launcher:
    """Starts `python -c <code>` with its log under `log_dir`."""

    def __init__(self, code: str, log_dir: pathlib.Path) -> None:
        self._code = code
        self._log_dir = log_dir
        self.prepared = 0

    async def prepare(self, manifest: api.JsonObject, *, attempt: int) -> container.Launch:
        self.prepared += 1
        return container.Launch(
            argv=[sys.executable, "-c", self._code],
            env={},
            cwd=self._log_dir,
            log_path=self._log_dir / f"{attempt}.log",
            probe_target=probes.ProbeTarget(pod_ip="127.0.0.1", ports={}),
        )


class _Changes:
    """Wakes a test whenever the runner reports a change."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()
            self._changed.clear()


def _runner(
    code: str,
    tmp_path: pathlib.Path,
    *,
    policy: str,
    events: list[str] | None = None,
    changes: _Changes | None = None,
    launcher: container.Launcher | None = None,
) -> container.ContainerRunner:
    recorded = events if events is not None else []
    return container.ContainerRunner(
        container={"name": "c", "image": "sloserve:dev"},
        launcher=launcher or _Launcher(code, tmp_path),
        restart_policy=policy,
        backoff=container.Backoff(initial_s=0.01, max_s=5.0),
        grace_s=5.0,
        pids=pidfiles.PidRegistry(tmp_path / "pids"),
        on_change=changes.notify if changes is not None else lambda: None,
        record_event=lambda kind, reason, message: recorded.append(reason),
    )


async def test_container_that_succeeds_is_not_restarted_under_on_failure(
    tmp_path: pathlib.Path,
) -> None:
    runner = _runner("print('done')", tmp_path, policy="OnFailure")

    exit_code = await asyncio.wait_for(runner.run(), 30)

    assert exit_code == 0
    assert runner.restart_count == 0
    assert runner.state["terminated"]["reason"] == "Completed"
    assert (tmp_path / "0.log").read_text() == "done\n"


async def test_failing_container_restarts_with_back_off_until_stopped(
    tmp_path: pathlib.Path,
) -> None:
    events: list[str] = []
    changes = _Changes()
    runner = _runner(
        "raise SystemExit(7)", tmp_path, policy="Always", events=events, changes=changes
    )
    running = asyncio.create_task(runner.run())

    await asyncio.wait_for(changes.until(lambda: runner.restart_count >= 3), 30)
    await runner.stop(grace_s=1)
    await asyncio.wait_for(running, 30)

    assert runner.last_state["terminated"]["exitCode"] == 7
    assert "BackOff" in events
    assert runner.log_path(previous=True) == tmp_path / f"{len(runner.log_paths) - 2}.log"


async def test_stopping_sends_sigterm_and_reports_the_signal(tmp_path: pathlib.Path) -> None:
    changes = _Changes()
    runner = _runner("import time; time.sleep(60)", tmp_path, policy="Always", changes=changes)
    running = asyncio.create_task(runner.run())
    await asyncio.wait_for(changes.until(lambda: "running" in runner.state), 30)
    pid = int(runner.container_id.removeprefix("sloserve-local://"))

    await runner.stop(grace_s=5)
    exit_code = await asyncio.wait_for(running, 30)

    assert exit_code == 143
    assert runner.state["terminated"]["signal"] == 15
    assert not processes.is_running(pid)
    assert not list((tmp_path / "pids").iterdir())


async def test_stopped_before_its_first_start_the_container_never_runs(
    tmp_path: pathlib.Path,
) -> None:
    runner = _runner("import time; time.sleep(60)", tmp_path, policy="Always")

    await runner.stop(grace_s=1)
    exit_code = await asyncio.wait_for(runner.run(), 5)

    assert exit_code is None
    assert runner.container_id == ""


async def test_command_that_cannot_start_is_reported_as_start_error(
    tmp_path: pathlib.Path,
) -> None:
    runner = _runner("pass", tmp_path, policy="Never", launcher=_MissingProgram(tmp_path))

    exit_code = await asyncio.wait_for(runner.run(), 5)

    assert exit_code == 128
    assert runner.state["terminated"]["reason"] == "StartError"
    assert "no-such-program" in runner.state["terminated"]["message"]


class _MissingProgram(_Launcher):
    def __init__(self, log_dir: pathlib.Path) -> None:
        super().__init__("", log_dir)

    async def prepare(self, manifest: api.JsonObject, *, attempt: int) -> container.Launch:
        launch = await super().prepare(manifest, attempt=attempt)
        return container.Launch(
            argv=["/no-such-program"],
            env={},
            cwd=launch.cwd,
            log_path=launch.log_path,
            probe_target=launch.probe_target,
        )
