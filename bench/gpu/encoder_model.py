"""A BERT-shaped text encoder in plain PyTorch, for embedding work as a co-location workload.

The shape is BGE-base / BERT-base (12 layers, hidden 768, 12 heads, MLP 3072, vocab 30522):
post-norm layers with bidirectional attention (`scaled_dot_product_attention`, no mask: every
sequence of the batch has the same length), a GELU MLP, and mean pooling into one normalised
vector per sequence, as embedding servers run it. Weights are random bf16; one call of the
returned step embeds one batch, and can be captured in a CUDA graph like the decoder's steps.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
import torch.nn.functional as nnf
from llama_model import BF16, FUSED_ATTENTION
from torch.nn.attention import sdpa_kernel


@dataclasses.dataclass(frozen=True)
class EncoderShape:
    name: str = "bge-base"
    layers: int = 12
    hidden: int = 768
    heads: int = 12
    intermediate: int = 3072
    vocab: int = 30522
    max_positions: int = 512


BGE_BASE = EncoderShape()


@dataclasses.dataclass(frozen=True)
class _Layer:
    qkv: torch.Tensor
    qkv_bias: torch.Tensor
    out: torch.Tensor
    out_bias: torch.Tensor
    norm1: tuple[torch.Tensor, torch.Tensor]
    up: torch.Tensor
    up_bias: torch.Tensor
    down: torch.Tensor
    down_bias: torch.Tensor
    norm2: tuple[torch.Tensor, torch.Tensor]


@dataclasses.dataclass(frozen=True)
class EncoderWeights:
    token_embed: torch.Tensor
    position_embed: torch.Tensor
    embed_norm: tuple[torch.Tensor, torch.Tensor]
    layers: tuple[_Layer, ...]

    def nbytes(self) -> int:
        tensors = [self.token_embed, self.position_embed, *self.embed_norm]
        for layer in self.layers:
            for field in dataclasses.fields(layer):
                value = getattr(layer, field.name)
                tensors.extend(value if isinstance(value, tuple) else (value,))
        return sum(t.numel() * t.element_size() for t in tensors)


def random_weights(shape: EncoderShape, *, device: torch.device, seed: int) -> EncoderWeights:
    generator = torch.Generator(device=device).manual_seed(seed)

    def matrix(rows: int, cols: int) -> torch.Tensor:
        weight = torch.randn(rows, cols, device=device, dtype=BF16, generator=generator)
        return weight.mul_(1.0 / math.sqrt(cols))

    def vector(size: int) -> torch.Tensor:
        return torch.zeros(size, device=device, dtype=BF16)

    def norm() -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ones(shape.hidden, device=device, dtype=BF16), vector(shape.hidden)

    layers = tuple(
        _Layer(
            qkv=matrix(3 * shape.hidden, shape.hidden),
            qkv_bias=vector(3 * shape.hidden),
            out=matrix(shape.hidden, shape.hidden),
            out_bias=vector(shape.hidden),
            norm1=norm(),
            up=matrix(shape.intermediate, shape.hidden),
            up_bias=vector(shape.intermediate),
            down=matrix(shape.hidden, shape.intermediate),
            down_bias=vector(shape.hidden),
            norm2=norm(),
        )
        for _ in range(shape.layers)
    )
    return EncoderWeights(
        token_embed=matrix(shape.vocab, shape.hidden),
        position_embed=matrix(shape.max_positions, shape.hidden),
        embed_norm=norm(),
        layers=layers,
    )


def build_step(
    weights: EncoderWeights, shape: EncoderShape, *, batch: int, seq_len: int, seed: int = 0
) -> Callable[[], torch.Tensor]:
    """A closure embedding one batch of `batch` sequences of `seq_len` tokens: [batch, hidden]."""
    if seq_len > shape.max_positions:
        raise ValueError(f"seq_len {seq_len} exceeds the encoder's {shape.max_positions} positions")
    device = weights.token_embed.device
    generator = torch.Generator(device=device).manual_seed(seed)
    token_ids = torch.randint(shape.vocab, (batch, seq_len), device=device, generator=generator)
    head_dim = shape.hidden // shape.heads

    def step() -> torch.Tensor:
        x = nnf.embedding(token_ids, weights.token_embed) + weights.position_embed[:seq_len]
        x = nnf.layer_norm(x, (shape.hidden,), *weights.embed_norm)
        for layer in weights.layers:
            qkv = nnf.linear(x, layer.qkv, layer.qkv_bias)
            q, k, v = qkv.view(batch, seq_len, 3, shape.heads, head_dim).unbind(dim=2)
            with sdpa_kernel(FUSED_ATTENTION):
                attended = nnf.scaled_dot_product_attention(
                    q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
                )
            attended = attended.transpose(1, 2).reshape(batch, seq_len, shape.hidden)
            x = nnf.layer_norm(
                x + nnf.linear(attended, layer.out, layer.out_bias), (shape.hidden,), *layer.norm1
            )
            h = nnf.gelu(nnf.linear(x, layer.up, layer.up_bias))
            x = nnf.layer_norm(
                x + nnf.linear(h, layer.down, layer.down_bias), (shape.hidden,), *layer.norm2
            )
        return nnf.normalize(x.mean(dim=1), dim=-1)

    return step
