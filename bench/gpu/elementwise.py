"""The element-wise stages between a decoder layer's matrix products, eager or fused.

Residual add + RMSNorm, rotary position embedding and SwiGLU's gate. Run eagerly, each stage is
several kernels; compiled with torch.compile, each is one fused kernel, as serving engines fuse
them (vLLM's fused_add_rms_norm, rotary_embedding, silu_and_mul).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as nnf


def apply_rope(x: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of x [..., tokens, heads, head_dim] by rotations [tokens, head_dim/2, 2].

    Complex arithmetic: three kernels when run eagerly.
    """
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    turns = torch.view_as_complex(rotations).unsqueeze(-2)
    return torch.view_as_real(pairs * turns).flatten(-2).to(x.dtype)


def apply_rope_real(x: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """`apply_rope` in real arithmetic, for the compiler (which takes no complex tensors)."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    cos, sin = rotations[..., 0].unsqueeze(-2), rotations[..., 1].unsqueeze(-2)
    even, odd = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).to(x.dtype)


def _add_rms_norm(
    x: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x + delta
    return x, nnf.rms_norm(x, (x.shape[-1],), weight, eps)


def _silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    gate, up = gate_up.chunk(2, dim=-1)
    return nnf.silu(gate) * up


@dataclasses.dataclass(frozen=True)
class Elementwise:
    """One implementation of each stage, under a name recorded with the measurements."""

    name: str
    add_rms_norm: Callable[
        [torch.Tensor, torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]
    ]
    rope: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    silu_mul: Callable[[torch.Tensor], torch.Tensor]


EAGER = Elementwise("eager", _add_rms_norm, apply_rope, _silu_mul)


def compiled_elementwise() -> Elementwise:
    """The same stages compiled by torch.compile, with dynamic shapes (one compile, all sizes)."""

    def compile_one(function: Callable[..., Any]) -> Any:
        return torch.compile(function, dynamic=True, fullgraph=True)

    return Elementwise(
        "compiled",
        compile_one(_add_rms_norm),
        compile_one(apply_rope_real),
        compile_one(_silu_mul),
    )
