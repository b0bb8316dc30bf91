"""What profile resolution knows without a profile: the shapes of well-known models and the
speeds of GPU products.

Model shapes are those of the models' published configurations (layers, hidden size, heads, KV
heads, MLP width, vocabulary); GPU figures are the vendors' data-sheet numbers (dense bf16 tensor
TFLOP/s, HBM bandwidth), used only as *ratios* between two GPUs. Pure data and lookups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GPU_SPECS", "GpuSpec", "ModelShape", "gpu_spec", "model_shape", "shape_key"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelShape:
    """A decoder's shape, as a profile's `model` records it."""

    architecture: str
    parameters: int
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    dtype: str = "bfloat16"


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuSpec:
    """`family`: the key profiles and `gpuProduct` labels are matched by."""

    family: str
    bf16_tflops: float
    hbm_tb_per_s: float


def _llama(parameters: int, layers: int, hidden: int, heads: int, intermediate: int) -> ModelShape:
    return ModelShape(
        architecture="llama",
        parameters=parameters,
        layers=layers,
        hidden=hidden,
        heads=heads,
        kv_heads=8,
        intermediate=intermediate,
        vocab=128256,
    )


def _qwen2(
    parameters: int, layers: int, hidden: int, heads: int, kv_heads: int, intermediate: int
) -> ModelShape:
    return ModelShape(
        architecture="qwen2",
        parameters=parameters,
        layers=layers,
        hidden=hidden,
        heads=heads,
        kv_heads=kv_heads,
        intermediate=intermediate,
        vocab=152064,
    )


_LLAMA_1B = _llama(1_235_814_400, 16, 2048, 32, 8192)
_LLAMA_3B = _llama(3_212_749_824, 28, 3072, 24, 8192)
_LLAMA_8B = _llama(8_030_261_248, 32, 4096, 32, 14336)
_LLAMA_70B = _llama(70_553_706_496, 80, 8192, 64, 28672)

# Keyed by the model id's last path part, lower-cased, without an -instruct/-chat/-hf suffix.
_MODELS: dict[str, ModelShape] = {
    "llama-3.2-1b": _LLAMA_1B,
    "llama-3.2-3b": _LLAMA_3B,
    "meta-llama-3-8b": _LLAMA_8B,
    "llama-3-8b": _LLAMA_8B,
    "llama-3.1-8b": _LLAMA_8B,
    "meta-llama-3.1-8b": _LLAMA_8B,
    "meta-llama-3-70b": _LLAMA_70B,
    "llama-3-70b": _LLAMA_70B,
    "llama-3.1-70b": _LLAMA_70B,
    "meta-llama-3.1-70b": _LLAMA_70B,
    "llama-3.3-70b": _LLAMA_70B,
    "qwen2.5-7b": _qwen2(7_615_616_512, 28, 3584, 28, 4, 18944),
    "qwen2.5-14b": _qwen2(14_770_033_664, 48, 5120, 40, 8, 13824),
    "qwen2.5-32b": _qwen2(32_763_876_352, 64, 5120, 40, 8, 27648),
    "qwen2.5-72b": _qwen2(72_706_203_648, 80, 8192, 64, 8, 29568),
}
_SUFFIXES = re.compile(r"(-instruct|-chat|-hf|-it)+$")

# Data-sheet figures (dense, no sparsity). Order matters: the first family whose pattern occurs
# in a product name wins, so the more specific names come first.
GPU_SPECS: tuple[tuple[str, GpuSpec], ...] = (
    ("gh200", GpuSpec(family="gh200", bf16_tflops=989.0, hbm_tb_per_s=4.9)),
    ("h200", GpuSpec(family="h200", bf16_tflops=989.0, hbm_tb_per_s=4.8)),
    ("h100-pcie", GpuSpec(family="h100-pcie", bf16_tflops=756.0, hbm_tb_per_s=2.0)),
    ("h100", GpuSpec(family="h100", bf16_tflops=989.0, hbm_tb_per_s=3.35)),
    ("b200", GpuSpec(family="b200", bf16_tflops=2250.0, hbm_tb_per_s=8.0)),
    ("a100", GpuSpec(family="a100", bf16_tflops=312.0, hbm_tb_per_s=2.04)),
    ("l40s", GpuSpec(family="l40s", bf16_tflops=362.0, hbm_tb_per_s=0.864)),
)


def model_shape(model_id: str) -> ModelShape | None:
    """The shape of a well-known model id (e.g. "meta-llama/Llama-3.1-8B-Instruct"), or None."""
    key = _SUFFIXES.sub("", model_id.rsplit("/", 1)[-1].lower())
    return _MODELS.get(key)


def gpu_spec(product: str) -> GpuSpec | None:
    """The GPU family of a product name or `nvidia.com/gpu.product` label value (e.g.
    "NVIDIA-H100-80GB-HBM3", "NVIDIA H200"), or None when it is not in the table."""
    normal = re.sub(r"[^a-z0-9]+", "-", product.lower())
    if "h100" in normal and "pcie" in normal:
        return dict(GPU_SPECS)["h100-pcie"]
    for pattern, spec in GPU_SPECS:
        if pattern != "h100-pcie" and pattern in normal:
            return spec
    return None


def shape_key(shape: ModelShape) -> tuple[int, int, int, int, int, str]:
    """What two shapes must share to time alike: depth, widths, heads, KV heads, dtype."""
    dtype = "bfloat16" if shape.dtype in ("bf16", "bfloat16") else shape.dtype
    return (shape.layers, shape.hidden, shape.heads, shape.kv_heads, shape.intermediate, dtype)
