"""The command line of an engine container.

A vLLM engine runs its image's entrypoint (`vllm serve`) with the arguments built here; a
simulated engine runs `sloserve engine-sim` with the same arguments plus `--profile`, the measured
latency profile it reproduces, so that the two kinds differ only in what executes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sloserve.api.spec import Engine, EngineKind
from sloserve.builders.errors import SpecError

__all__ = ["LISTEN_HOST", "POD_IP_HOST", "SIM_COMMAND", "engine_args", "engine_command"]

#: Engines listen on every interface of their pod.
LISTEN_HOST = "0.0.0.0"
#: The listen address that means "the pod's own IP": Kubernetes expands `$(POD_IP)` in args from
#: the container's environment, which the builders then fill from the pod's status.
POD_IP_HOST = "$(POD_IP)"
SIM_COMMAND = ("sloserve", "engine-sim")

# Flags the operator derives from other fields; a second value in engine.args would silently
# win or lose depending on the engine's parser, so it is refused instead.
_OWNED_FLAGS = {
    "--served-model-name": "spec.model (the id clients send)",
    "--host": "the operator's engines.listen_host setting",
    "--port": "engine.port",
}
_TENSOR_PARALLEL_FLAGS = ("--tensor-parallel-size", "-tp")


def _sets_flag(args: Sequence[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(f"{flag}=") for arg in args)


def engine_command(engine: Engine) -> tuple[str, ...] | None:
    """The container command: `sloserve engine-sim` for `sim`; None for `vllm`, whose image's
    entrypoint is the vLLM server."""
    return SIM_COMMAND if engine.kind is EngineKind.SIM else None


def engine_args(*, model: str, engine: Engine, listen_host: str = LISTEN_HOST) -> tuple[str, ...]:
    """vLLM serve arguments for `model` on `engine`, followed by `engine.args`.

    `--model` defaults to the model id and may be overridden in `engine.args` (a local path to
    the weights, say); `--served-model-name` is always the model id, since that is what clients
    send; `--host` is `listen_host`; `--tensor-parallel-size` defaults to `engine.gpus` when it
    is above one; a `sim` engine gets `--profile` from `engine.profile` unless `engine.args` sets
    it. Raises
    SpecError naming `engine.args` when it sets a flag the operator derives from another field.
    """
    for flag, source in _OWNED_FLAGS.items():
        if _sets_flag(engine.args, flag):
            raise SpecError(
                "engine.args",
                f"{flag} is set by the operator from {source}; remove it from engine.args",
            )
    args: list[str] = []
    if not _sets_flag(engine.args, "--model"):
        args.append(f"--model={model}")
    args += [f"--served-model-name={model}", f"--host={listen_host}", f"--port={engine.port}"]
    if engine.gpus > 1 and not any(_sets_flag(engine.args, f) for f in _TENSOR_PARALLEL_FLAGS):
        args.append(f"--tensor-parallel-size={engine.gpus}")
    if engine.kind is EngineKind.SIM and not _sets_flag(engine.args, "--profile"):
        args.append(f"--profile={engine.profile}")
    return (*args, *engine.args)
