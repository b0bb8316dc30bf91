"""A LoRA fine-tuning step on a small Llama-shaped model, as a co-location workload.

The base weights are random and frozen; low-rank adapters on the fused qkv and output projections
of every layer are trained with AdamW on random tokens. One `step()` is a forward pass, a backward
pass and an optimizer update over one batch, run eagerly as training frameworks run it.
"""

from __future__ import annotations

import dataclasses
import math

import elementwise
import llama_model
import torch
import torch.nn.functional as nnf
from llama_model import DecoderShape


@dataclasses.dataclass(frozen=True)
class LoraSettings:
    """Adapter rank and scale, and the batch one step trains on."""

    rank: int = 16
    alpha: float = 32.0
    batch: int = 4
    seq_len: int = 512


@dataclasses.dataclass(frozen=True)
class _Adapter:
    down: torch.Tensor
    up: torch.Tensor

    def __call__(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        return nnf.linear(nnf.linear(x, self.down), self.up) * scale


class LoraTrainer:
    """Holds the frozen model, its adapters, an optimizer and one batch of random data."""

    def __init__(
        self, shape: DecoderShape, settings: LoraSettings, *, device: torch.device, seed: int
    ):
        self.shape = shape
        self.settings = settings
        self.base = llama_model.random_weights(shape, device=device, seed=seed)
        generator = torch.Generator(device=device).manual_seed(seed + 1)
        qkv_out = (shape.heads + 2 * shape.kv_heads) * shape.head_dim

        def adapter(fan_in: int, fan_out: int) -> _Adapter:
            down = torch.randn(settings.rank, fan_in, device=device, generator=generator)
            up = torch.randn(fan_out, settings.rank, device=device, generator=generator)
            return _Adapter(
                down=(down / math.sqrt(fan_in)).to(llama_model.BF16).requires_grad_(),
                up=(up / math.sqrt(settings.rank) * 1e-2).to(llama_model.BF16).requires_grad_(),
            )

        self.qkv_adapters = [adapter(shape.hidden, qkv_out) for _ in range(shape.layers)]
        self.out_adapters = [adapter(shape.hidden, shape.hidden) for _ in range(shape.layers)]
        trainable = [t for a in self.qkv_adapters + self.out_adapters for t in (a.down, a.up)]
        self.optimizer = torch.optim.AdamW(trainable, lr=1e-4, fused=device.type == "cuda")
        self.tokens = torch.randint(
            shape.vocab, (settings.batch, settings.seq_len), device=device, generator=generator
        )
        self.labels = torch.randint(
            shape.vocab, (settings.batch, settings.seq_len), device=device, generator=generator
        )
        self.rotations = llama_model.rope_table(shape, positions=settings.seq_len, device=device)
        self.scale = settings.alpha / settings.rank

    def trainable_parameters(self) -> int:
        return sum(t.numel() for a in self.qkv_adapters + self.out_adapters for t in (a.down, a.up))

    def step(self) -> float:
        """One forward, backward and AdamW update; returns the loss (a device sync)."""
        loss = self._loss()
        loss.backward()  # type: ignore[no-untyped-call,unused-ignore]
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def _loss(self) -> torch.Tensor:
        shape, batch, seq = self.shape, self.settings.batch, self.settings.seq_len
        heads, kv_heads, head_dim = shape.heads, shape.kv_heads, shape.head_dim
        x = nnf.embedding(self.tokens, self.base.embed)
        for layer, qkv_adapter, out_adapter in zip(
            self.base.layers, self.qkv_adapters, self.out_adapters, strict=True
        ):
            h = nnf.rms_norm(x, (shape.hidden,), layer.attn_norm, shape.norm_eps)
            qkv = nnf.linear(h, layer.qkv) + qkv_adapter(h, self.scale)
            q_and_k = qkv[..., : (heads + kv_heads) * head_dim].view(
                batch, seq, heads + kv_heads, head_dim
            )
            q_and_k = elementwise.apply_rope(q_and_k, self.rotations)
            q = q_and_k[:, :, :heads].transpose(1, 2)
            k = q_and_k[:, :, heads:].transpose(1, 2)
            v = qkv[..., (heads + kv_heads) * head_dim :].view(batch, seq, kv_heads, head_dim)
            attended = llama_model.causal_attention(q, k, v.transpose(1, 2))
            attended = attended.transpose(1, 2).reshape(batch, seq, shape.hidden)
            x = x + nnf.linear(attended, layer.out) + out_adapter(attended, self.scale)
            h = nnf.rms_norm(x, (shape.hidden,), layer.mlp_norm, shape.norm_eps)
            gate, up = nnf.linear(h, layer.gate_up).chunk(2, dim=-1)
            x = x + nnf.linear(nnf.silu(gate) * up, layer.down)
        h = nnf.rms_norm(x, (shape.hidden,), self.base.final_norm, shape.norm_eps)
        logits = nnf.linear(h, self.base.lm_head)
        return nnf.cross_entropy(logits.view(-1, shape.vocab).float(), self.labels.view(-1))
