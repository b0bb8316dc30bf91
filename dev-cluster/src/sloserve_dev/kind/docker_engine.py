"""A Docker Engine of our own for the local kind cluster: Debian's `dockerd`, started by us with
its data, runtime state, socket and pid file in one directory of the cache, and stopped by us.

Where the machine never grants CAP_SYS_RESOURCE, every privileged container (a kind node is one)
fails in runc; there the engine's default runtime is sloserve's runc wrapper, which drops that
one capability (see tools/runc-wrapper). Elsewhere the wrapper is not configured at all."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import itertools
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

from sloserve_dev import paths, processes

CAP_SYS_RESOURCE = 24
#: Every image is built here: a pull goes to this closed loopback port and fails at once,
#: instead of asking a name server and a registry elsewhere.
NO_PULLS_PROXY = "http://127.0.0.1:9"
WRAPPER_RUNTIME = "sloserve-runc"
#: Debian's engine and client, not whatever other `docker` is on PATH.
DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"
#: Chains dockerd makes in the host's iptables and leaves behind when it exits.
DOCKER_CHAINS = {
    "filter": ("DOCKER", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"),
    "nat": ("DOCKER",),
}


class DockerEngineError(RuntimeError):
    """The engine is missing, or did not start; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class EngineLayout:
    """Where our engine keeps everything (short paths: unix sockets live below `run`)."""

    root: pathlib.Path

    @classmethod
    def default(cls) -> EngineLayout:
        return cls(paths.cache_root() / "docker")

    @property
    def data_root(self) -> pathlib.Path:
        return self.root / "data"

    @property
    def exec_root(self) -> pathlib.Path:
        return self.root / "run"

    @property
    def socket(self) -> pathlib.Path:
        return self.root / "docker.sock"

    @property
    def pid_file(self) -> pathlib.Path:
        return self.root / "dockerd.pid"

    @property
    def log_file(self) -> pathlib.Path:
        return self.root / "dockerd.log"

    @property
    def config_file(self) -> pathlib.Path:
        return self.root / "daemon.json"

    @property
    def host_settings_file(self) -> pathlib.Path:
        """What dockerd changes on the host, as it was before (restored when it stops)."""
        return self.root / "host-before.json"

    @property
    def lock_file(self) -> pathlib.Path:
        return self.root / "engine.lock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"


@contextlib.contextmanager
def locked(layout: EngineLayout) -> Iterator[None]:
    """Holds the engine's lock (waiting for it): whoever starts or stops the engine, or a
    cluster or image on it, holds it, so that no one stops the engine under another's work."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with layout.lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def capability_granted(
    capability: int, *, status: pathlib.Path = pathlib.Path("/proc/self/status")
) -> bool:
    """Whether this process's bounding set holds `capability` (children cannot get it if not)."""
    for line in status.read_text().splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line.split(":", 1)[1].strip(), 16) >> capability & 1)
    return True


def daemon_config(*, runc_wrapper: pathlib.Path | None, dns: str) -> dict[str, object]:
    """dockerd's configuration: no default bridge (kind makes its own network), our runc
    wrapper as the default runtime when one is given, and `dns` as the only upstream of the
    containers' embedded DNS (an address of this machine where nothing answers, so that a name
    the containers do not know fails here instead of being asked of a server elsewhere)."""
    config: dict[str, object] = {
        "bridge": "none",
        "log-level": "warn",
        "ip6tables": False,
        "dns": [dns],
    }
    if runc_wrapper is not None:
        config["runtimes"] = {WRAPPER_RUNTIME: {"path": str(runc_wrapper)}}
        config["default-runtime"] = WRAPPER_RUNTIME
    return config


def running_pid(layout: EngineLayout) -> int | None:
    """The pid of our engine when it runs (its pid file names a live dockerd)."""
    try:
        pid = int(layout.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not processes.is_running(pid):
        return None
    try:
        command = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return None
    return pid if command.endswith(b"dockerd") else None


def environment(layout: EngineLayout) -> dict[str, str]:
    """This process's environment pointed at our engine, with Debian's client first on PATH."""
    return {
        **os.environ,
        "DOCKER_HOST": layout.host,
        "PATH": f"{pathlib.Path(DOCKER).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def responds(layout: EngineLayout) -> bool:
    completed = subprocess.run(
        [DOCKER, "version", "--format", "{{.Server.Version}}"],
        env=environment(layout),
        capture_output=True,
        check=False,
    )
    return completed.returncode == 0


def ensure_running(
    layout: EngineLayout, *, runc_wrapper: pathlib.Path, dns: str, timeout_s: float = 60.0
) -> int | None:
    """Starts our engine unless it runs already; returns the pid it started, or None when it
    found one running (someone else's `dev up`: theirs to stop)."""
    for tool in (DOCKERD, DOCKER):
        if not pathlib.Path(tool).is_file():
            raise DockerEngineError(
                f"{tool} is missing: install Debian's Docker Engine (apt-get install docker.io)"
            )
    if running_pid(layout) is not None and responds(layout):
        return None
    layout.root.mkdir(parents=True, exist_ok=True)
    wrapper = None if capability_granted(CAP_SYS_RESOURCE) else runc_wrapper
    if wrapper is not None:
        # dockerd runs the runtime from this path for as long as it runs: a copy of our own.
        wrapper = layout.root / "runc-wrapper"
        shutil.copy2(runc_wrapper, wrapper)
    layout.config_file.write_text(
        json.dumps(daemon_config(runc_wrapper=wrapper, dns=dns), indent=2)
    )
    argv = [
        DOCKERD,
        f"--config-file={layout.config_file}",
        f"--data-root={layout.data_root}",
        f"--exec-root={layout.exec_root}",
        f"--pidfile={layout.pid_file}",
        f"--host={layout.host}",
    ]
    proxy = {
        **os.environ,
        "HTTP_PROXY": NO_PULLS_PROXY,
        "HTTPS_PROXY": NO_PULLS_PROXY,
        "NO_PROXY": "",
    }
    popen = processes.spawn(argv=argv, log_path=layout.log_file, tie_to_parent=False, env=proxy)
    deadline = time.monotonic() + timeout_s
    while not responds(layout):
        if popen.poll() is not None or time.monotonic() > deadline:
            stop(popen.pid)
            raise DockerEngineError(
                "dockerd did not start:\n" + processes.log_tail(layout.log_file)
            )
        time.sleep(0.3)
    return popen.pid


IP_FORWARD = pathlib.Path("/proc/sys/net/ipv4/ip_forward")


def _host_settings() -> dict[str, str]:
    """The host settings dockerd changes: IPv4 forwarding and the FORWARD chain's policy."""
    rules = subprocess.run(
        ["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    policy = next((r.split()[2] for r in rules if r.startswith("-P FORWARD")), "ACCEPT")
    return {"ip_forward": IP_FORWARD.read_text().strip(), "forward_policy": policy}


def _restore_host_settings(layout: EngineLayout) -> None:
    try:
        before = json.loads(layout.host_settings_file.read_text())
    except (FileNotFoundError, ValueError):
        return
    subprocess.run(["iptables", "-P", "FORWARD", before["forward_policy"]], check=False)
    IP_FORWARD.write_text(before["ip_forward"] + "\n")
    layout.host_settings_file.unlink()


def stop(pid: int, *, layout: EngineLayout | None = None, grace_s: float = 30.0) -> None:
    """Stops the engine we started (SIGTERM: it stops its containers and its containerd), then
    removes the iptables chains it leaves behind and restores what it changed on the host."""
    if processes.is_running(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while processes.is_running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if processes.is_running(pid):
            os.kill(pid, signal.SIGKILL)
    remove_docker_chains()
    _restore_host_settings(layout if layout is not None else EngineLayout.default())


def remove_docker_chains() -> None:
    """Deletes the chains dockerd made (and the rules jumping to them) from the host's
    iptables; only chains of Docker's own names are touched."""
    for table, chains in DOCKER_CHAINS.items():
        rules = subprocess.run(
            ["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False
        ).stdout.splitlines()
        for rule in rules:
            words = rule.split()
            if words[:1] == ["-A"] and words[1] not in chains and _jumps_to(words, chains):
                subprocess.run(["iptables", "-t", table, "-D", *words[1:]], check=False)
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-F", chain], capture_output=True, check=False)
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True, check=False)


def _jumps_to(words: list[str], chains: tuple[str, ...]) -> bool:
    return any(
        flag in ("-j", "-g") and target in chains for flag, target in itertools.pairwise(words)
    )
