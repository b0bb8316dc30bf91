"""How an engine pod stops without cutting off a request: the preStop hook and the grace period.

When an engine pod is deleted (scale-down, rollout, node drain) Kubernetes marks its endpoint
terminating, and the gateway stops sending it new requests. The kubelet runs the preStop hook
first and sends SIGTERM only when it returns: the hook waits until the engine has no request
left (`drain_wait`), within the ModelService's drain time. The grace period adds the engine's
shutdown allowance, after which the kubelet kills it.
"""

from __future__ import annotations

import ast
import functools
from importlib import resources

from sloserve.api.spec import ModelServiceSpec
from sloserve.builders.defaults import EngineDefaults, Manifest

__all__ = ["drain_script", "drain_seconds", "pre_stop_hook", "termination_grace_period_s"]

# Images without python3 (none of vLLM's or sloserve's) fall back to waiting the whole drain time.
_RUN_OR_SLEEP = (
    'if command -v python3 >/dev/null 2>&1; then exec python3 -c "$1" "$2" "$3" "$4"; fi; '
    'exec sleep "$3"'
)


@functools.cache
def drain_script() -> str:
    """The source of `drain_wait` as the hook runs it: without its module docstring, comments
    and blank lines, since every engine's Deployment, ReplicaSets and pods carry a copy."""
    source = resources.files("sloserve.builders").joinpath("drain_wait.py").read_text("utf-8")
    first = ast.parse(source).body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        source = "\n".join(source.splitlines()[first.end_lineno or 0 :])
    kept = [
        line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    return "\n".join(kept) + "\n"


def drain_seconds(spec: ModelServiceSpec, defaults: EngineDefaults) -> int:
    """The ModelService's drain time: `spec.drainSeconds`, else the operator's default."""
    return spec.drain_seconds if spec.drain_seconds is not None else defaults.drain_seconds


def termination_grace_period_s(spec: ModelServiceSpec, defaults: EngineDefaults) -> int:
    """The engine pods' `terminationGracePeriodSeconds`: the drain time, then the shutdown
    allowance."""
    return drain_seconds(spec, defaults) + defaults.shutdown_grace_s


def pre_stop_hook(spec: ModelServiceSpec, defaults: EngineDefaults) -> Manifest | None:
    """The engine container's preStop handler: an exec of `drain_wait` against the engine's
    port, for at most the drain time and at least `defaults.drain_delay_s`; None when the drain
    time is 0."""
    drain_s = drain_seconds(spec, defaults)
    if drain_s <= 0:
        return None
    settle_s = min(defaults.drain_delay_s, drain_s)
    command = [
        "/bin/sh",
        "-c",
        _RUN_OR_SLEEP,
        "drain",
        drain_script(),
        str(spec.engine.port),
        str(drain_s),
        str(settle_s),
    ]
    return {"exec": {"command": command}}
