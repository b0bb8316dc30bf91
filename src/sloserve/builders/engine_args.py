"""The command line of an engine container.

A vLLM engine runs its image's entrypoint (`vllm serve`) with the arguments built here; a
simulated engine runs `sloserve engine-sim` with the same arguments plus `--profile`, the measured
latency profile it reproduces, so that the two kinds differ only in what executes them.

`engine_args` is a pure function of the spec's model and engine, so that the arguments can be
checked against vLLM's own argument parser without a cluster.
"""

from __future__ import annotations

import posixpath

from sloserve.api import engine_flags
from sloserve.api.spec import Engine, EngineKind
from sloserve.builders import profile_choice
from sloserve.builders.errors import SpecError

__all__ = [
    "LISTEN_HOST",
    "POD_IP_HOST",
    "SIM_COMMAND",
    "engine_args",
    "engine_command",
    "model_location",
]

#: Engines listen on every interface of their pod.
LISTEN_HOST = "0.0.0.0"
#: The listen address that means "the pod's own IP": Kubernetes expands `$(POD_IP)` in args from
#: the container's environment, which the builders then fill from the pod's status.
POD_IP_HOST = "$(POD_IP)"
SIM_COMMAND = ("sloserve", "engine-sim")


def engine_command(engine: Engine) -> tuple[str, ...] | None:
    """The container command: `sloserve engine-sim` for `sim`; None for `vllm`, whose image's
    entrypoint is the vLLM server."""
    return SIM_COMMAND if engine.kind is EngineKind.SIM else None


def model_location(*, model: str, engine: Engine) -> str:
    """What `--model` names: `engine.modelSource.hub`, the directory `modelSource.path` inside
    the model cache's mount, or else the model id itself (a hub repository)."""
    source = engine.model_source
    if source is not None and source.hub is not None:
        return source.hub
    if source is not None and source.path is not None and engine.model_cache is not None:
        return posixpath.join(engine.model_cache.mount_path, source.path)
    return model


def engine_args(*, model: str, engine: Engine, listen_host: str = LISTEN_HOST) -> tuple[str, ...]:
    """vLLM serve arguments for `model` on `engine`, followed by `engine.args`.

    `--model` is `model_location` (without `modelSource`, `engine.args` may set its own, a
    local path say); `--revision` comes from `modelSource.revision`; `--served-model-name` is
    always the model id, since that is what clients send; `--host` is `listen_host`;
    `--tensor-parallel-size` is written when above one and `--pipeline-parallel-size` when
    above one; a `sim` engine gets `--profile` from `engine.profile` (for `auto`, the profile
    chosen for the model, or the simulator's default when none fits) unless `engine.args` sets
    it. Raises SpecError naming `engine.args` when it sets a flag the operator derives from
    another field (the API server refuses such a spec already; this guards specs that never
    passed it).
    """
    owned = engine_flags.first_owned_flag(engine.args)
    if owned is not None:
        raise SpecError(
            "engine.args",
            f"{owned.spellings[0]} is set by the operator from {owned.source}; remove it from "
            "engine.args",
        )
    args: list[str] = []
    source = engine.model_source
    if source is not None or not engine_flags.sets_flag(engine.args, engine_flags.MODEL_FLAGS):
        args.append(f"--model={model_location(model=model, engine=engine)}")
    if source is not None and source.revision is not None:
        args.append(f"--revision={source.revision}")
    args += [f"--served-model-name={model}", f"--host={listen_host}", f"--port={engine.port}"]
    if engine.tensor_parallel_size_or_default > 1:
        args.append(f"--tensor-parallel-size={engine.tensor_parallel_size_or_default}")
    if engine.pipeline_parallel_size_or_default > 1:
        args.append(f"--pipeline-parallel-size={engine.pipeline_parallel_size_or_default}")
    if engine.kind is EngineKind.SIM and not engine_flags.sets_flag(engine.args, ("--profile",)):
        args.append(f"--profile={profile_choice.simulated_profile(model=model, engine=engine)}")
    return (*args, *engine.args)
