"""Putting a container's volumes at their mount paths, for that container's process only.

Each container process starts in its own mount namespace (`unshare --mount`, which needs root):
its volumes are bind-mounted at their `mountPath`, so the ServiceAccount token lands exactly at
/var/run/secrets/kubernetes.io/serviceaccount, where the Kubernetes clients look for it, while
the host and every other pod see nothing. Mount paths under /run (and /var/run) go into a
private, initially empty /run, as a container would have; a mount path elsewhere must exist on
the host, since the host's directories are all the process has.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import shlex
import subprocess
from collections.abc import Mapping, Sequence

from sloserve.dev.kubelet import api, objects

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_RESOLV_CONF = "/etc/resolv.conf"


@dataclasses.dataclass(frozen=True)
class Mount:
    """A host path (`source`) to appear at `target` inside the container."""

    source: pathlib.Path
    target: str
    read_only: bool


@functools.cache
def namespaces_available() -> bool:
    """Whether this process may create mount namespaces and mount in them."""
    try:
        probe = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "true"],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        return False
    return probe.returncode == 0


def plan(
    *,
    container: api.JsonObject,
    volume_paths: Mapping[str, pathlib.Path],
) -> list[Mount]:
    """The container's volumeMounts as host paths. Raises objects.ConfigError for a mount that
    names an unknown volume or a subPath that does not exist."""
    mounts = []
    for entry in container.get("volumeMounts") or []:
        volume = entry["name"]
        if volume not in volume_paths:
            raise objects.ConfigError(f"volumeMount {entry['mountPath']!r}: no volume {volume!r}")
        source = volume_paths[volume]
        if entry.get("subPath"):
            source = source / entry["subPath"]
            if not source.exists():
                raise objects.ConfigError(
                    f"volumeMount {entry['mountPath']!r}: subPath {entry['subPath']!r} does not "
                    f"exist in volume {volume!r}"
                )
        mounts.append(
            Mount(
                source=source,
                target=os.path.normpath(entry["mountPath"]),
                read_only=bool(entry.get("readOnly")),
            )
        )
    return mounts


def launcher(
    *, mounts: Sequence[Mount], staging: pathlib.Path, keep_visible: Sequence[pathlib.Path]
) -> list[str]:
    """The argv prefix that runs a command (appended after it) with `mounts` in place, in a new
    mount namespace. `staging` is an empty directory of the pod's, used to assemble the private
    /run before it is moved into place. Raises objects.ConfigError for a mount target that is
    missing on the host outside /run, or that would hide one of `keep_visible` (the Python
    installation and the pod's own directory)."""
    run_root = os.path.realpath("/var/run")
    staged: list[tuple[Mount, str]] = []
    direct: list[Mount] = []
    for mount in mounts:
        target = os.path.realpath(mount.target)
        if target == run_root or target.startswith(run_root + "/"):
            staged.append((mount, os.path.relpath(target, run_root)))
            continue
        for needed in keep_visible:
            if needed == pathlib.Path(target) or pathlib.Path(target) in needed.parents:
                raise objects.ConfigError(
                    f"volumeMount {mount.target!r} would hide {needed}, which the local kubelet "
                    "needs to run the container; mount the volume elsewhere"
                )
        if not os.path.exists(target):
            raise objects.ConfigError(
                f"volumeMount {mount.target!r}: the local kubelet mounts volumes under /run, "
                "/var/run or at paths that exist on its host, and this one does not"
            )
        direct.append(dataclasses.replace(mount, target=target))
    lines = ["set -e"]
    if staged:
        stage = shlex.quote(str(staging))
        lines.append(f"mount -n -t tmpfs -o mode=0755,size=64m sloserve-pod-run {stage}")
        resolv = os.path.realpath(_RESOLV_CONF)
        if resolv.startswith(run_root + "/"):
            # Keep name resolution working where /etc/resolv.conf points into /run.
            staged.append(
                (Mount(pathlib.Path(resolv), resolv, True), os.path.relpath(resolv, run_root))
            )
        for mount, relative in staged:
            lines += _bind(mount, str(staging / relative), create=True)
        lines.append(f"mount -n --move {stage} {shlex.quote(run_root)}")
    for mount in direct:
        lines += _bind(mount, mount.target, create=False)
    lines.append('exec "$@"')
    script = "\n".join(lines)
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh"]


def _bind(mount: Mount, target: str, *, create: bool) -> list[str]:
    """Shell lines binding `mount.source` at `target`, creating the mount point first when it
    lies in the private /run (never on the host)."""
    quoted_target = shlex.quote(target)
    lines = []
    if create and mount.source.is_dir():
        lines.append(f"mkdir -p {quoted_target}")
    elif create:
        lines += [f"mkdir -p {shlex.quote(os.path.dirname(target))}", f"touch {quoted_target}"]
    lines.append(f"mount -n --bind {shlex.quote(str(mount.source))} {quoted_target}")
    if mount.read_only:
        lines.append(f"mount -n -o remount,bind,ro {quoted_target}")
    return lines
