"""The entrypoint of the vLLM engine image: vLLM's OpenAI server with the arguments the operator
renders for a ModelService's engine container, run from the cached virtualenv mounted into the
pod, with the KV cache sized to the container's memory limit.

Runs with the image's own Python (Debian's 3.11, the version the virtualenv was built for) and
the standard library only; the virtualenv's `site-packages` is on `PYTHONPATH` (see the image's
Dockerfile). Usage reporting and the hub are switched off there too.

`VLLM_CPU_KVCACHE_SPACE` (GiB) is what vLLM's CPU backend allocates for the KV cache; left
unset, vLLM reads `--gpu-memory-utilization` as a fraction of the host's memory, which ignores
the pod's limit and gets the engine OOM-killed. Unless the pod sets it, it is the memory limit
less what vLLM takes besides the cache.
"""

from __future__ import annotations

import math
import os
import pathlib
import sys
from collections.abc import Mapping, Sequence

#: Where the pod mounts the virtualenv (read-only) and where its packages then are.
VENV_MOUNT = "/opt/vllm/venv"
SITE_PACKAGES = f"{VENV_MOUNT}/lib/python3.11/site-packages"
OPENAI_SERVER_MODULE = "vllm.entrypoints.openai.api_server"
#: vLLM's API server, engine core, torch and the tokenizer without the KV cache: about 2.3 GiB
#: measured with the tiny model, rounded up for headroom.
RESERVED_GIB = 3.0
#: The KV cache when the container has no memory limit.
UNLIMITED_KV_CACHE_GIB = 1.0
_MIN_KV_CACHE_GIB = 0.25
_GIB = 1024**3
_CGROUP_LIMIT_FILES = (
    "sys/fs/cgroup/memory.max",  # cgroup v2
    "sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
)
# cgroup v1 reports "no limit" as a number near 2**63
_UNLIMITED_BYTES = 1 << 60


class EntrypointError(RuntimeError):
    """The engine cannot start as configured; the message says what to change."""


def memory_limit_bytes(root: pathlib.Path = pathlib.Path("/")) -> int | None:
    """The container's memory limit from its cgroup, or None when it has none."""
    for name in _CGROUP_LIMIT_FILES:
        path = root / name
        if not path.is_file():
            continue
        text = path.read_text().strip()
        if text == "max":
            return None
        limit = int(text)
        return None if limit >= _UNLIMITED_BYTES else limit
    return None


def kv_cache_gib(limit_bytes: int | None) -> float:
    """The KV cache for a container of `limit_bytes` memory: the limit less `RESERVED_GIB`,
    rounded down to a quarter GiB. Raises EntrypointError when that leaves no cache."""
    if limit_bytes is None:
        return UNLIMITED_KV_CACHE_GIB
    limit_gib = limit_bytes / _GIB
    room = math.floor((limit_gib - RESERVED_GIB) * 4) / 4
    if room < _MIN_KV_CACHE_GIB:
        raise EntrypointError(
            f"error: the container's memory limit ({limit_gib:.2f} GiB) leaves no room for a KV "
            f"cache: vLLM takes about {RESERVED_GIB:g} GiB besides it; raise "
            f"spec.engine.resources.limits.memory to at least "
            f"{RESERVED_GIB + _MIN_KV_CACHE_GIB:g}Gi, or set VLLM_CPU_KVCACHE_SPACE"
        )
    return room


def engine_env(
    base: Mapping[str, str], *, limit_bytes: int | None, temp_dir: str = "/tmp"
) -> dict[str, str]:
    """`base` with the KV cache sized (unless set already) and every cache under `temp_dir`
    (the virtualenv and the model cache are read-only)."""
    env = dict(base)
    if not env.get("VLLM_CPU_KVCACHE_SPACE"):
        env["VLLM_CPU_KVCACHE_SPACE"] = f"{kv_cache_gib(limit_bytes):g}"
    cache = f"{temp_dir}/vllm-cache"
    for name, path in (
        ("VLLM_CACHE_ROOT", f"{cache}/vllm"),
        ("TORCHINDUCTOR_CACHE_DIR", f"{cache}/torchinductor"),
        ("TRITON_CACHE_DIR", f"{cache}/triton"),
        ("XDG_CACHE_HOME", f"{cache}/xdg"),
        ("TMPDIR", temp_dir),
    ):
        env.setdefault(name, path)
    # Whatever the pod's environment says, nothing is reported or fetched.
    env.update(
        {
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
    )
    return env


def main(argv: Sequence[str]) -> int:
    if not (pathlib.Path(SITE_PACKAGES) / "vllm").is_dir():
        print(
            f"error: no vLLM in {SITE_PACKAGES}: mount the vllm-cpu virtualenv at {VENV_MOUNT} "
            "(see docs/real-vllm.md: the kind nodes have it at the path the sample names)",
            file=sys.stderr,
        )
        return 1
    try:
        env = engine_env(os.environ, limit_bytes=memory_limit_bytes())
    except EntrypointError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"KV cache: {env['VLLM_CPU_KVCACHE_SPACE']} GiB", file=sys.stderr, flush=True)
    command = [sys.executable, "-m", OPENAI_SERVER_MODULE, *argv]
    # vLLM takes this process's place: the kubelet's SIGTERM reaches it directly.
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
