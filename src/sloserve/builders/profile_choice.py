"""The latency profile a ModelService is predicted with: the one it names, or, with `profile:
auto` (the default), the one `sloserve.scheduling.profile_resolution` chooses from its model and
GPU. The operator (for its status) and the gateway (for its predictions) both ask here, so they
never disagree.

When `auto` finds nothing, predictions start from `CONSERVATIVE_PRIOR` and the gateway calibrates
them online from what it observes; the status says so (`ProfileResolved=False`).
"""

from __future__ import annotations

import functools

from sloserve.api import engine_flags
from sloserve.api.engine import AUTO_PROFILE, DEFAULT_PROFILE, Engine
from sloserve.scheduling import latency_profile, profile_files, profile_resolution

__all__ = ["CONSERVATIVE_PRIOR", "choose_profile", "simulated_profile"]

#: What predictions start from when no profile fits: the slowest measured profile shipped (a 32B
#: model on one H200), slower than any model it could be mistaken for up to that size on
#: H100/H200-class GPUs, so the guards err towards refusing until calibration corrects them.
CONSERVATIVE_PRIOR = "h200-qwen2.5-32b"

_DTYPE_FLAGS = ("--dtype",)
_QUANTIZATION_FLAGS = ("--quantization", "-q")


@functools.cache
def _shipped() -> tuple[latency_profile.LatencyProfile, ...]:
    return tuple(profile_files.load_profile(name) for name in profile_files.available_profiles())


def _dtype(engine: Engine) -> str:
    quantization = engine_flags.flag_value(engine.args, _QUANTIZATION_FLAGS)
    if quantization:
        return quantization
    dtype = engine_flags.flag_value(engine.args, _DTYPE_FLAGS)
    return "bfloat16" if dtype in (None, "auto", "bf16", "bfloat16") else dtype


def choose_profile(*, model: str, engine: Engine) -> profile_resolution.ProfileResolution:
    """The named profile (rule "named", whether or not it exists: the caller checks the name),
    or the one the resolution rule chooses for `model` on `engine` when `engine.profile` is
    `auto`."""
    if engine.profile != AUTO_PROFILE:
        return profile_resolution.ProfileResolution(
            profile=engine.profile, rule="named", message=f"profile {engine.profile} (named)"
        )
    return profile_resolution.resolve_profile(
        model_id=model,
        gpu_product=engine.gpu_product,
        tensor_parallel=engine.tensor_parallel_size_or_default,
        profiles=_shipped(),
        dtype=_dtype(engine),
    )


def simulated_profile(*, model: str, engine: Engine) -> str:
    """The profile a `sim` engine is timed by (the hardware it pretends to be): the chosen
    profile, or the simulator's default when none fits (its speed is then what the gateway's
    online calibration has to find)."""
    return choose_profile(model=model, engine=engine).profile or DEFAULT_PROFILE
