"""A Llama-3-shaped decoder in plain PyTorch, built for timing rather than for text.

Weights are random (no checkpoint is loaded): the kernels, shapes and bytes moved are those of the
real model, which is all a latency profile or an interference measurement needs. One forward pass
handles a *step* as a serving engine runs it: an optional fresh prompt chunk (prefill) followed by a
batch of sequences that each decode one token over their cached context. The step is written so it
can be captured in a CUDA graph: every tensor it touches is allocated before capture.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as nnf
from elementwise import EAGER, Elementwise
from torch.nn.attention import SDPBackend, sdpa_kernel

BF16 = torch.bfloat16
BF16_BYTES = 2
# Every fused attention backend, never the math fallback: the math path materialises the whole
# score matrix and would time something no serving engine runs.
FUSED_ATTENTION = [
    SDPBackend.FLASH_ATTENTION,
    SDPBackend.CUDNN_ATTENTION,
    SDPBackend.EFFICIENT_ATTENTION,
]


@dataclasses.dataclass(frozen=True)
class DecoderShape:
    """Sizes of a Llama-style decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU)."""

    name: str = "llama-3-8b"
    layers: int = 32
    hidden: int = 4096
    heads: int = 32
    kv_heads: int = 8
    intermediate: int = 14336
    vocab: int = 128256
    rope_theta: float = 500000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def group(self) -> int:
        """Query heads served by one key/value head."""
        return self.heads // self.kv_heads

    @property
    def kv_bytes_per_token(self) -> int:
        """Bytes of bf16 key and value cache one token occupies across all layers."""
        return self.layers * 2 * self.kv_heads * self.head_dim * BF16_BYTES

    def with_layers(self, layers: int) -> DecoderShape:
        """The same shape at another depth (for co-locating several models on one GPU)."""
        return dataclasses.replace(self, layers=layers)


LLAMA3_8B = DecoderShape()
LLAMA32_1B = DecoderShape(
    name="llama-3.2-1b", layers=16, hidden=2048, heads=32, kv_heads=8, intermediate=8192
)
# Qwen2.5-32B's sizes. Its q/k/v projections carry a bias, which this decoder leaves out: one
# vector add per layer, well under 0.1% of a step.
QWEN25_32B = DecoderShape(
    name="qwen2.5-32b",
    layers=64,
    hidden=5120,
    heads=40,
    kv_heads=8,
    intermediate=27648,
    vocab=152064,
    rope_theta=1000000.0,
    norm_eps=1e-6,
)
LLAMA3_70B = DecoderShape(
    name="llama-3-70b", layers=80, hidden=8192, heads=64, kv_heads=8, intermediate=28672
)
SHAPES: dict[str, DecoderShape] = {
    shape.name: shape for shape in (LLAMA32_1B, LLAMA3_8B, QWEN25_32B, LLAMA3_70B)
}


def parameter_count(shape: DecoderShape) -> int:
    """Weights of the decoder (embedding and LM head counted separately, as untied)."""
    qkv = (shape.heads + 2 * shape.kv_heads) * shape.head_dim * shape.hidden
    per_layer = qkv + shape.hidden * shape.hidden + 3 * shape.intermediate * shape.hidden
    per_layer += 2 * shape.hidden
    return shape.layers * per_layer + 2 * shape.vocab * shape.hidden + shape.hidden


@dataclasses.dataclass(frozen=True)
class LayerWeights:
    """One decoder layer; projections fused the way serving engines fuse them (qkv, gate+up)."""

    attn_norm: torch.Tensor
    qkv: torch.Tensor
    out: torch.Tensor
    mlp_norm: torch.Tensor
    gate_up: torch.Tensor
    down: torch.Tensor


@dataclasses.dataclass(frozen=True)
class DecoderWeights:
    embed: torch.Tensor
    layers: tuple[LayerWeights, ...]
    final_norm: torch.Tensor
    lm_head: torch.Tensor

    def nbytes(self) -> int:
        tensors = [self.embed, self.final_norm, self.lm_head]
        for layer in self.layers:
            tensors.extend(getattr(layer, field.name) for field in dataclasses.fields(layer))
        return sum(t.numel() * t.element_size() for t in tensors)


def random_weights(shape: DecoderShape, *, device: torch.device, seed: int) -> DecoderWeights:
    """Draw bf16 weights from N(0, 1/fan_in), so activations stay finite through every layer."""
    generator = torch.Generator(device=device).manual_seed(seed)

    def matrix(rows: int, cols: int) -> torch.Tensor:
        weight = torch.randn(rows, cols, device=device, dtype=BF16, generator=generator)
        return weight.mul_(1.0 / math.sqrt(cols))

    def norm() -> torch.Tensor:
        return torch.ones(shape.hidden, device=device, dtype=BF16)

    qkv_rows = (shape.heads + 2 * shape.kv_heads) * shape.head_dim
    layers = tuple(
        LayerWeights(
            attn_norm=norm(),
            qkv=matrix(qkv_rows, shape.hidden),
            out=matrix(shape.hidden, shape.hidden),
            mlp_norm=norm(),
            gate_up=matrix(2 * shape.intermediate, shape.hidden),
            down=matrix(shape.hidden, shape.intermediate),
        )
        for _ in range(shape.layers)
    )
    return DecoderWeights(
        embed=matrix(shape.vocab, shape.hidden),
        layers=layers,
        final_norm=norm(),
        lm_head=matrix(shape.vocab, shape.hidden),
    )


def rope_table(shape: DecoderShape, *, positions: int, device: torch.device) -> torch.Tensor:
    """(cos, sin) of pos·θ_j for positions [0, positions): float32 [positions, head_dim/2, 2]."""
    half = shape.head_dim // 2
    inv_freq = 1.0 / (shape.rope_theta ** (torch.arange(half, device=device) / half))
    angles = torch.outer(torch.arange(positions, device=device, dtype=torch.float32), inv_freq)
    return torch.stack((angles.cos(), angles.sin()), dim=-1)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal grouped-query attention: q [b, heads, t, d], k and v [b, kv_heads, t, d]."""
    group = q.shape[1] // k.shape[1]
    with sdpa_kernel(FUSED_ATTENTION):
        if _native_gqa_supported(q):
            return nnf.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return nnf.scaled_dot_product_attention(
            q, k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1), is_causal=True
        )


_NATIVE_GQA: dict[str, bool] = {}


def _native_gqa_supported(q: torch.Tensor) -> bool:
    """Whether a fused SDPA backend takes grouped K/V directly (else K/V are expanded first)."""
    key = str(q.device)
    if key not in _NATIVE_GQA:
        probe_q = torch.randn(1, 4, 16, q.shape[-1], device=q.device, dtype=q.dtype)
        probe_kv = torch.randn(1, 2, 16, q.shape[-1], device=q.device, dtype=q.dtype)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nnf.scaled_dot_product_attention(
                    probe_q, probe_kv, probe_kv, is_causal=True, enable_gqa=True
                )
            _NATIVE_GQA[key] = True
        except RuntimeError:
            _NATIVE_GQA[key] = False
    return _NATIVE_GQA[key]


def native_gqa_in_use() -> bool | None:
    """What the probe found on the first device used (None before any prefill ran)."""
    return next(iter(_NATIVE_GQA.values()), None)


class KVPool:
    """Preallocated key and value storage, one flat bf16 buffer per layer for each.

    Views carve [batch, kv_heads, slots, head_dim] blocks out of it; the contents are random so
    attention reads real-looking data. A view that does not fit raises ValueError.
    """

    def __init__(self, shape: DecoderShape, *, capacity_tokens: int, device: torch.device):
        self.shape = shape
        self.capacity_tokens = capacity_tokens
        per_token = shape.kv_heads * shape.head_dim
        self.keys = torch.empty(
            shape.layers, capacity_tokens * per_token, device=device, dtype=BF16
        )
        self.values = torch.empty_like(self.keys)
        self.keys.normal_()
        self.values.normal_()

    def fits(self, *, batch: int, slots: int, offset_tokens: int = 0) -> bool:
        return offset_tokens + batch * slots <= self.capacity_tokens

    def views(
        self, *, batch: int, slots: int, offset_tokens: int = 0
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if not self.fits(batch=batch, slots=slots, offset_tokens=offset_tokens):
            raise ValueError(
                f"KV pool holds {self.capacity_tokens} tokens; batch {batch} × {slots} slots at "
                f"offset {offset_tokens} does not fit: lower the batch or context"
            )
        per_token = self.shape.kv_heads * self.shape.head_dim
        start = offset_tokens * per_token
        stop = start + batch * slots * per_token
        block = (batch, self.shape.kv_heads, slots, self.shape.head_dim)
        return [
            (self.keys[layer, start:stop].view(block), self.values[layer, start:stop].view(block))
            for layer in range(self.shape.layers)
        ]


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """What one engine step computes: a fresh prompt chunk and/or a batch of decodes."""

    prefill_tokens: int = 0
    decode_batch: int = 0
    decode_context: int = 0

    @property
    def tokens(self) -> int:
        return self.prefill_tokens + self.decode_batch

    @property
    def kv_tokens(self) -> int:
        """Cache slots the step needs: the prompt chunk plus context and new token per decode."""
        return self.prefill_tokens + self.decode_batch * (self.decode_context + 1)


def build_step(
    weights: DecoderWeights,
    shape: DecoderShape,
    plan: StepPlan,
    *,
    pool: KVPool,
    rotations: torch.Tensor,
    elementwise: Elementwise = EAGER,
    seed: int = 0,
) -> Callable[[], torch.Tensor]:
    """Allocate the static inputs of `plan` and return a closure running one forward pass.

    The closure returns the greedy next token of the prompt's last position and of every decode
    sequence. It allocates nothing outside the caching allocator, so it can be graph-captured.
    """
    if plan.tokens == 0:
        raise ValueError("a step needs prefill_tokens > 0 or decode_batch > 0")
    device = weights.embed.device
    generator = torch.Generator(device=device).manual_seed(seed)
    token_ids = torch.randint(
        shape.vocab, (plan.tokens,), device=device, generator=generator, dtype=torch.long
    )
    positions = torch.cat(
        [
            torch.arange(plan.prefill_tokens, device=device),
            torch.full((plan.decode_batch,), plan.decode_context, device=device),
        ]
    )
    step_rotations = rotations[positions].contiguous()
    prefill_cache = pool.views(batch=1, slots=plan.prefill_tokens) if plan.prefill_tokens else None
    decode_cache = (
        pool.views(
            batch=plan.decode_batch,
            slots=plan.decode_context + 1,
            offset_tokens=plan.prefill_tokens,
        )
        if plan.decode_batch
        else None
    )

    def step() -> torch.Tensor:
        x = nnf.embedding(token_ids, weights.embed)
        # Each layer hands its MLP output back un-added, so the residual add fuses with the
        # next RMSNorm, as in serving engines.
        pending: torch.Tensor | None = None
        for index, layer in enumerate(weights.layers):
            x, pending = _layer(
                x,
                pending,
                layer,
                shape,
                plan,
                elementwise=elementwise,
                rotations=step_rotations,
                prefill_cache=prefill_cache[index] if prefill_cache else None,
                decode_cache=decode_cache[index] if decode_cache else None,
            )
        if pending is not None:
            x = x + pending
        last = x[plan.prefill_tokens - 1 :] if plan.prefill_tokens else x
        last = nnf.rms_norm(last, (shape.hidden,), weights.final_norm, shape.norm_eps)
        return nnf.linear(last, weights.lm_head).argmax(dim=-1)

    return step


def _layer(
    x: torch.Tensor,
    pending: torch.Tensor | None,
    w: LayerWeights,
    shape: DecoderShape,
    plan: StepPlan,
    *,
    elementwise: Elementwise,
    rotations: torch.Tensor,
    prefill_cache: tuple[torch.Tensor, torch.Tensor] | None,
    decode_cache: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decoder layer over `x + pending`; returns the residual stream and the MLP output."""
    heads, kv_heads, head_dim = shape.heads, shape.kv_heads, shape.head_dim
    tokens = x.shape[0]
    if pending is None:
        h = nnf.rms_norm(x, (shape.hidden,), w.attn_norm, shape.norm_eps)
    else:
        x, h = elementwise.add_rms_norm(x, pending, w.attn_norm, shape.norm_eps)
    qkv = nnf.linear(h, w.qkv)
    q_and_k = qkv[:, : (heads + kv_heads) * head_dim].view(tokens, heads + kv_heads, head_dim)
    q_and_k = elementwise.rope(q_and_k, rotations)
    q, k = q_and_k[:, :heads], q_and_k[:, heads:]
    v = qkv[:, (heads + kv_heads) * head_dim :].view(tokens, kv_heads, head_dim)
    outputs: list[torch.Tensor] = []
    split = plan.prefill_tokens
    if prefill_cache is not None:
        qp = q[:split].transpose(0, 1).unsqueeze(0)
        kp = k[:split].transpose(0, 1).unsqueeze(0)
        vp = v[:split].transpose(0, 1).unsqueeze(0)
        prefill_cache[0].copy_(kp)
        prefill_cache[1].copy_(vp)
        attended = causal_attention(qp, kp, vp)
        outputs.append(attended[0].transpose(0, 1).reshape(split, heads * head_dim))
    if decode_cache is not None:
        cache_k, cache_v = decode_cache
        batch, context = plan.decode_batch, plan.decode_context
        cache_k[:, :, context].copy_(k[split:])
        cache_v[:, :, context].copy_(v[split:])
        # A decode query has one position, so the query heads sharing a K/V head are laid out as
        # that head's query positions: no K/V expansion and no mask are needed.
        grouped_q = q[split:].reshape(batch, kv_heads, shape.group, head_dim)
        with sdpa_kernel(FUSED_ATTENTION):
            attended = nnf.scaled_dot_product_attention(grouped_q, cache_k, cache_v)
        outputs.append(attended.reshape(batch, heads * head_dim))
    attention = outputs[0] if len(outputs) == 1 else torch.cat(outputs)
    x, h = elementwise.add_rms_norm(x, nnf.linear(attention, w.out), w.mlp_norm, shape.norm_eps)
    return x, nnf.linear(elementwise.silu_mul(nnf.linear(h, w.gate_up)), w.down)


@dataclasses.dataclass
class CapturedStep:
    """A step captured in a CUDA graph, replayed as an engine replays its decode graphs.

    It holds the step closure: the graph reads that closure's input tensors (token ids, RoPE
    rows, cache views) at fixed addresses, so they must live as long as the graph; were they
    freed, the allocator would hand their memory to the next tensor and the graph would read it.
    """

    graph: Any
    output: torch.Tensor
    step: Callable[[], torch.Tensor]

    def replay(self) -> None:
        self.graph.replay()


@dataclasses.dataclass
class EagerStep:
    """The stand-in for a captured step off the GPU (for checking the scripts on a CPU)."""

    step: Callable[[], torch.Tensor]
    output: torch.Tensor

    def replay(self) -> None:
        self.output = self.step()


def capture(step: Callable[[], torch.Tensor], *, warmup: int = 2) -> CapturedStep | EagerStep:
    """Run `step` eagerly on a side stream (as graph capture requires), then capture it.

    Off the GPU there are no graphs: the step is returned to be run eagerly."""
    if not torch.cuda.is_available():
        return EagerStep(step=step, output=step())
    side = torch.cuda.Stream()  # type: ignore[no-untyped-call,unused-ignore]
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = step()
    return CapturedStep(graph=graph, output=output, step=step)
