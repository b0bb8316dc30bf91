"""Turning a container manifest into a process to start: command, environment, mounts."""

from __future__ import annotations

import os
import pathlib
import sys

from sloserve.dev import kubeconfig
from sloserve.dev.kubelet import (
    api,
    container,
    context,
    downward,
    environment,
    expansion,
    mounts,
    objects,
    probes,
)


class PodLauncher:
    """Prepares the containers of one pod (see container.Launcher)."""

    def __init__(
        self,
        *,
        node: context.NodeContext,
        facts: downward.PodFacts,
        pod_dir: pathlib.Path,
        log_dir: pathlib.Path,
        pod_objects: objects.PodObjects,
        volume_paths: dict[str, pathlib.Path],
        gpu_indices: list[int],
    ) -> None:
        self._node = node
        self._facts = facts
        self._pod_dir = pod_dir
        self._log_dir = log_dir
        self._objects = pod_objects
        self._volume_paths = volume_paths
        self._gpu_indices = gpu_indices

    def _base_env(self) -> dict[str, str]:
        """What every container starts from; nothing leaks in from the kubelet's own
        environment but PATH, so a container sees what it would in a cluster."""
        node = self._node
        env = {
            "PATH": os.pathsep.join(
                [os.path.dirname(sys.executable), os.environ.get("PATH", "/usr/bin:/bin")]
            ),
            "HOME": str(self._pod_dir / "home"),
            "HOSTNAME": self._facts.pod["metadata"]["name"],
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "KUBERNETES_SERVICE_HOST": node.api_host,
            "KUBERNETES_SERVICE_PORT": str(node.api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(node.api_port),
            "KUBERNETES_PORT": f"tcp://{node.api_host}:{node.api_port}",
            # Every pod shares the host's network namespace and must bind its own address;
            # charts pass it on with args such as `--host=$(POD_IP)`.
            "POD_IP": self._facts.pod_ip,
        }
        if self._gpu_indices:
            env["NVIDIA_VISIBLE_DEVICES"] = ",".join(str(index) for index in self._gpu_indices)
        return env

    async def prepare(self, manifest: api.JsonObject, *, attempt: int) -> container.Launch:
        name = manifest["name"]
        env = await environment.container_env(
            container=manifest,
            facts=self._facts,
            pod_objects=self._objects,
            base=self._base_env(),
            node_allocatable=self._node.spec.capacity(),
        )
        command = [expansion.expand(str(part), env) for part in manifest.get("command") or []]
        args = [expansion.expand(str(part), env) for part in manifest.get("args") or []]
        argv = self._node.mapping.argv(image=manifest.get("image", ""), command=command, args=args)
        planned = mounts.plan(container=manifest, volume_paths=self._volume_paths)
        prefix: list[str] = []
        if self._node.mount_namespaces:
            if planned:
                staging = self._pod_dir / "staging" / name
                staging.mkdir(parents=True, exist_ok=True)
                prefix = mounts.launcher(
                    mounts=planned, staging=staging, keep_visible=self._keep_visible()
                )
        else:
            env |= self._token_kubeconfig_env(name, planned)
        cwd = _working_dir(manifest.get("workingDir"), home=pathlib.Path(env["HOME"]))
        ports = {
            port["name"]: int(port["containerPort"])
            for port in manifest.get("ports") or []
            if port.get("name")
        }
        return container.Launch(
            argv=[*prefix, *argv],
            env=env,
            cwd=cwd,
            log_path=self._log_dir / name / f"{attempt}.log",
            probe_target=probes.ProbeTarget(pod_ip=self._facts.pod_ip, ports=ports),
            own_mount_namespace=bool(prefix),
        )

    def _keep_visible(self) -> list[pathlib.Path]:
        return [
            pathlib.Path(sys.prefix),
            pathlib.Path(sys.base_prefix),
            pathlib.Path(os.path.realpath(sys.executable)).parent,
            self._pod_dir,
            self._log_dir,
        ]

    def _token_kubeconfig_env(self, name: str, planned: list[mounts.Mount]) -> dict[str, str]:
        """Without mount namespaces: the ServiceAccount token reaches the container through a
        kubeconfig naming the token file (KUBECONFIG); any other mount cannot be honoured."""
        env: dict[str, str] = {}
        for mount in planned:
            if mount.target != mounts.SERVICE_ACCOUNT_DIR:
                raise objects.ConfigError(
                    f"volumeMount {mount.target!r} needs a private mount namespace, which this "
                    "local kubelet may not create (run it as root)"
                )
            config_path = self._pod_dir / f"kubeconfig-{name}"
            metadata, spec = self._facts.pod["metadata"], self._facts.pod["spec"]
            account = spec.get("serviceAccountName") or "default"
            kubeconfig.write_kubeconfig(
                config_path,
                server=f"https://{self._node.api_host}:{self._node.api_port}",
                ca_pem=(mount.source / "ca.crt").read_bytes(),
                user=f"system:serviceaccount:{metadata['namespace']}:{account}",
                token_file=mount.source / "token",
            )
            env["KUBECONFIG"] = str(config_path)
        return env


def _working_dir(requested: str | None, *, home: pathlib.Path) -> pathlib.Path:
    """The container's workingDir where it exists on the host, else the pod's home directory
    (created here)."""
    home.mkdir(parents=True, exist_ok=True)
    if requested and os.path.isdir(requested):
        return pathlib.Path(requested)
    return home
