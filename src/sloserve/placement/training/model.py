"""The dual-branch Transformer (after CloudFormer, arXiv 2509.03394) in PyTorch.

Input `series` is `(batch, slots, steps, metrics)` of raw solo readings, slot 0 the candidate and
the rest its neighbours; `mode` is `(batch, 1)`, 0 for time-slicing and 1 for MPS. Output `p` is
`(batch,)`: the predicted P = solo / co-located performance of the candidate, in (0, P_MAX).

- The temporal branch attends across time steps. A step's token is the candidate's readings at
  that step, projected, plus the sum of the neighbours' projected readings: summing keeps the
  branch indifferent to the order in which neighbours are listed.
- The system-interaction branch attends across metrics. Each (workload, metric) pair is a token
  built from that metric's whole series, tagged with the metric's identity and the workload's role
  (candidate or neighbour), so attention relates, for example, the candidate's DRAM activity to a
  neighbour's SM activity.
- Their pooled outputs and the mode (and, optionally, the sum-of-utilizations estimate of P as a
  prior) are fused by a small MLP into P.

Readings are normalized inside the model (log1p, then the training set's mean and deviation per
metric), so the exported graph takes raw values. Attention is written out rather than taken from
`nn.MultiheadAttention` so that the ONNX export is plain MatMul/Softmax that onnxruntime runs
anywhere.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

__all__ = ["P_MAX", "DualBranchInterference", "ModelShape"]

#: P can exceed 1 by measurement noise (a co-located window slightly faster than the solo one);
#: the output range leaves room for it.
P_MAX = 1.1


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelShape:
    """Sizes of the model: its input (slots x steps x metrics) and its widths."""

    slots: int
    steps: int
    metrics: int
    width: int = 32
    heads: int = 4
    layers: int = 2
    demand_metric: int | None = None
    """Index of the utilization metric whose sum over the workloads (the sum-of-utilizations
    estimate of P) is fed to the fusion as a prior; None: no prior."""


class _Block(nn.Module):  # type: ignore[misc,unused-ignore]
    """Pre-norm Transformer encoder block: self-attention, then a feed-forward layer."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.width = width
        self.head_width = width // heads
        self.norm_attention = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.attention_out = nn.Linear(width, width)
        self.norm_feed = nn.LayerNorm(width)
        self.feed = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, count = tokens.shape[0], tokens.shape[1]
        head_width = self.head_width
        query, key, value = self.qkv(self.norm_attention(tokens)).chunk(3, dim=-1)

        def split(part: torch.Tensor) -> torch.Tensor:
            return part.reshape(batch, count, self.heads, head_width).transpose(1, 2)

        weights = torch.softmax(
            split(query) @ split(key).transpose(-2, -1) / math.sqrt(head_width), dim=-1
        )
        mixed = (weights @ split(value)).transpose(1, 2).reshape(batch, count, self.width)
        attended: torch.Tensor = tokens + self.attention_out(mixed)
        result: torch.Tensor = attended + self.feed(self.norm_feed(attended))
        return result


class DualBranchInterference(nn.Module):  # type: ignore[misc,unused-ignore]
    """See the module docstring. `center` and `scale` are per-metric statistics of the log1p
    readings of the training set."""

    center: torch.Tensor
    scale: torch.Tensor

    def __init__(self, shape: ModelShape, *, center: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        width = shape.width
        self.register_buffer("center", center.reshape(1, 1, 1, -1).clone())
        self.register_buffer("scale", scale.reshape(1, 1, 1, -1).clone())
        self.candidate_step = nn.Linear(shape.metrics, width)
        self.neighbour_step = nn.Linear(shape.metrics, width)
        self.step_position = nn.Parameter(torch.zeros(1, shape.steps, width))
        self.temporal = nn.Sequential(*[_Block(width, shape.heads) for _ in range(shape.layers)])
        self.metric_series = nn.Linear(shape.steps, width)
        self.metric_identity = nn.Parameter(torch.zeros(1, 1, shape.metrics, width))
        self.role = nn.Parameter(torch.zeros(1, 2, 1, width))
        self.interaction = nn.Sequential(*[_Block(width, shape.heads) for _ in range(shape.layers)])
        self.demand_metric = shape.demand_metric
        extra = 1 if shape.demand_metric is None else 2
        self.fuse = nn.Sequential(
            nn.Linear(3 * width + extra, 2 * width), nn.GELU(), nn.Linear(2 * width, 1)
        )
        nn.init.normal_(self.step_position, std=0.02)
        nn.init.normal_(self.metric_identity, std=0.02)
        nn.init.normal_(self.role, std=0.02)

    def forward(self, series: torch.Tensor, mode: torch.Tensor) -> torch.Tensor:
        normal = (torch.log1p(torch.clamp(series, min=0.0)) - self.center) / self.scale
        candidate, neighbours = normal[:, 0], normal[:, 1:]
        steps = (
            self.candidate_step(candidate)
            + self.neighbour_step(neighbours).sum(dim=1)
            + self.step_position
        )
        temporal = self.temporal(steps).mean(dim=1)
        batch, slots, _, metrics = normal.shape
        per_metric = self.metric_series(normal.transpose(2, 3)) + self.metric_identity
        roles = torch.cat([self.role[:, :1], self.role[:, 1:].expand(1, slots - 1, 1, -1)], dim=1)
        tokens = (per_metric + roles).reshape(batch, slots * metrics, -1)
        mixed = self.interaction(tokens)
        candidate_view = mixed[:, :metrics].mean(dim=1)
        system_view = mixed.mean(dim=1)
        views = [temporal, candidate_view, system_view, mode]
        if self.demand_metric is not None:
            demand = series[:, :, :, self.demand_metric].mean(dim=2).sum(dim=1, keepdim=True)
            views.append(torch.clamp(100.0 / torch.clamp(demand, min=1.0), max=1.0))
        fused = torch.cat(views, dim=1)
        p: torch.Tensor = P_MAX * torch.sigmoid(self.fuse(fused)).squeeze(1)
        return p
