"""Which measured profile times a model on a GPU, when the ModelService names none.

The rule, in order (the first that applies wins):

1. **exact**: a profile of the same shape (layers, hidden size, heads, KV heads, MLP width,
   dtype) and tensor-parallel size, measured (or derived) on the same GPU family.
2. **nearest, another GPU**: a profile of the same shape and tensor-parallel size on another GPU
   of the catalogue: prefill times scale by the ratio of dense bf16 TFLOP/s (prefill is
   compute-bound), decode steps by the ratio of HBM bandwidth (decode reads the weights and the
   KV cache once a step).
3. **nearest, another size**: a profile of the same tensor-parallel size and dtype on the same
   GPU family whose parameter count is within a factor of 2: both prefill and decode scale by
   the parameter ratio (FLOPs per token and bytes of weights per step both grow with it). Of
   several, one of the same architecture first (every catalogued one is a dense decoder with
   grouped-query attention), then the one nearest in log-ratio.
4. **none**: nothing fits. The caller reports it (`ProfileResolved=False`) and starts from a
   conservative prior with online calibration — never another model's profile unannounced.

Each resolution says which rule chose it and by what factors, for the condition's message and
the profile's provenance. Pure: profiles are passed in.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

from sloserve.scheduling import latency_profile, model_catalog

__all__ = ["MAX_SIZE_RATIO", "ProfileResolution", "resolve_profile"]

#: How far apart in parameters a profile of another size may be and still be used (rule 3).
MAX_SIZE_RATIO = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileResolution:
    """`profile` None: nothing fits (`rule` "none"); `message` says why, or what was chosen."""

    profile: str | None
    rule: str
    prefill_scale: float = 1.0
    decode_scale: float = 1.0
    message: str = ""

    @property
    def resolved(self) -> bool:
        return self.profile is not None


def _profile_shape(profile: latency_profile.LatencyProfile) -> model_catalog.ModelShape:
    model = profile.model
    extra = model.model_extra or {}
    architecture = str(extra.get("architecture") or model.shape.split("-")[0])
    parameters = int(extra.get("parameters") or _estimate_parameters(model))
    return model_catalog.ModelShape(
        architecture=architecture,
        parameters=parameters,
        layers=model.layers,
        hidden=model.hidden,
        heads=model.heads,
        kv_heads=model.kv_heads,
        intermediate=model.intermediate,
        vocab=model.vocab,
        dtype=model.dtype,
    )


def _estimate_parameters(model: latency_profile.ModelShape) -> int:
    head_dim = model.hidden // model.heads
    attention = model.hidden * (2 * model.hidden + 2 * model.kv_heads * head_dim)
    mlp = 3 * model.hidden * model.intermediate
    return model.layers * (attention + mlp) + 2 * model.vocab * model.hidden


def _tensor_parallel(profile: latency_profile.LatencyProfile) -> int:
    return int((profile.model.model_extra or {}).get("tensor_parallel", 1))


def resolve_profile(
    *,
    model_id: str,
    gpu_product: str | None,
    tensor_parallel: int,
    profiles: Iterable[latency_profile.LatencyProfile],
    dtype: str = "bfloat16",
) -> ProfileResolution:
    """The profile (and scale factors) that time `model_id` on `gpu_product` at
    `tensor_parallel` GPUs a replica, by the module's rule."""
    shape = model_catalog.model_shape(model_id)
    if shape is None:
        return ProfileResolution(
            profile=None,
            rule="none",
            message=f"model {model_id!r} is not in the catalogue of known model shapes; set "
            "spec.engine.profile to a profile measured for it",
        )
    shape = dataclasses.replace(shape, dtype=dtype)
    gpu = model_catalog.gpu_spec(gpu_product) if gpu_product else None
    if gpu is None:
        what = (
            f"GPU product {gpu_product!r} is not in the catalogue"
            if gpu_product
            else ("spec.engine.gpuProduct is not set")
        )
        return ProfileResolution(
            profile=None,
            rule="none",
            message=f"{what}, so no profile can be chosen for it; set spec.engine.gpuProduct "
            "or spec.engine.profile",
        )
    candidates = [
        (profile, _profile_shape(profile), model_catalog.gpu_spec(profile.device))
        for profile in sorted(profiles, key=lambda entry: entry.name)
        if _tensor_parallel(profile) == tensor_parallel
    ]
    wanted = model_catalog.shape_key(shape)
    same_shape = [entry for entry in candidates if model_catalog.shape_key(entry[1]) == wanted]
    for profile, _, profile_gpu in same_shape:
        if profile_gpu is not None and profile_gpu.family == gpu.family:
            return ProfileResolution(
                profile=profile.name, rule="exact", message=f"profile {profile.name} (exact)"
            )
    for profile, _, profile_gpu in same_shape:
        if profile_gpu is not None:
            prefill = profile_gpu.bf16_tflops / gpu.bf16_tflops
            decode = profile_gpu.hbm_tb_per_s / gpu.hbm_tb_per_s
            return ProfileResolution(
                profile=profile.name,
                rule="nearest-gpu",
                prefill_scale=prefill,
                decode_scale=decode,
                message=f"profile {profile.name} measured on {profile_gpu.family}, scaled to "
                f"{gpu.family} by data-sheet ratios: prefill ×{prefill:.3g} (bf16 TFLOP/s), "
                f"decode ×{decode:.3g} (HBM bandwidth)",
            )
    sized = [
        (
            (
                entry[1].architecture != shape.architecture,
                abs(math.log(shape.parameters / entry[1].parameters)),
            ),
            entry,
        )
        for entry in candidates
        if entry[2] is not None
        and entry[2].family == gpu.family
        and entry[1].dtype == shape.dtype
        and 1 / MAX_SIZE_RATIO <= shape.parameters / entry[1].parameters <= MAX_SIZE_RATIO
    ]
    if sized:
        _, (profile, profile_shape, _) = min(sized, key=lambda item: item[0])
        ratio = shape.parameters / profile_shape.parameters
        return ProfileResolution(
            profile=profile.name,
            rule="nearest-size",
            prefill_scale=ratio,
            decode_scale=ratio,
            message=f"profile {profile.name} ({profile_shape.parameters / 1e9:.1f}B parameters) "
            f"scaled by the parameter ratio ×{ratio:.3g} to {model_id}",
        )
    return ProfileResolution(
        profile=None,
        rule="none",
        message=f"no profile fits {model_id} ({shape.architecture}, "
        f"{shape.parameters / 1e9:.1f}B parameters, {shape.dtype}) on {gpu.family} at tensor "
        f"parallel {tensor_parallel}: none of the same shape on a catalogued GPU, nor one "
        f"within ×{MAX_SIZE_RATIO:g} of its parameters on {gpu.family}; set "
        "spec.engine.profile to a profile measured for it",
    )
