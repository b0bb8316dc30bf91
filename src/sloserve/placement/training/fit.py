"""Training the dual-branch model on labelled co-locations, and exporting it to ONNX.

Needs the `train` extra (PyTorch, onnx). Runs on a laptop CPU in minutes: the model is small and
the dataset a few hundred rows.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import onnx
import torch
from torch import nn

from sloserve.placement.examples import Examples
from sloserve.placement.features import LOAD_METRIC
from sloserve.placement.training.model import DualBranchInterference, ModelShape

__all__ = ["TrainSettings", "export_onnx", "fit"]

#: The smallest scale of log readings (about a 5% change). A metric that barely varies (clocks,
#: memory used by resident processes) is not blown up into a large input, where the training
#: jitter would swamp everything else and inputs at serving would sit far from those trained on.
_MIN_SCALE = 0.05


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """How the model is trained.

    Attributes:
        steps: points each series is resampled to (the model's time axis).
        width, heads, layers: Transformer width, attention heads and blocks per branch.
        epochs: passes over the training rows, per ensemble member.
        batch_size: rows per optimizer step.
        learning_rate: AdamW's peak rate (cosine-decayed to zero).
        weight_decay: AdamW's decoupled weight decay.
        ensemble: members trained from different seeds; the exported model averages them. One by
            default: every member adds its full cost to each prediction, and three members put
            scoring a node over its 2 ms budget on a loaded 2-core machine.
        seed: seed of the first member (member i uses seed + i).
        min_crop: smallest fraction of a series window a training example is cropped to, so the
            model does not rely on one exact window (serving windows differ).
        jitter: standard deviation of the multiplicative noise on readings during training.
        metric_gain: standard deviation of a random log-gain per workload and metric during
            training, so that the model reads levels smoothly instead of recognising the few
            training kinds by their exact readings; 0 disables it.
        demand_prior: feed the sum-of-utilizations estimate of P to the fusion (see the model).
        threads: PyTorch CPU threads. One: the model is small enough that more threads only
            contend (on a loaded 2-core machine two threads made a step twenty times slower).
    """

    steps: int = 16
    width: int = 32
    heads: int = 4
    layers: int = 2
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    ensemble: int = 1
    seed: int = 0
    min_crop: float = 0.6
    jitter: float = 0.03
    metric_gain: float = 0.0
    demand_prior: bool = False
    threads: int = 1


class _Ensemble(nn.Module):  # type: ignore[misc,unused-ignore]
    """The mean of its members' predictions."""

    def __init__(self, members: list[DualBranchInterference]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, series: torch.Tensor, mode: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(series, mode) for member in self.members]).mean(dim=0)


def _normalization(inputs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    logged = np.log1p(np.clip(inputs, 0.0, None)).reshape(-1, inputs.shape[-1])
    center = logged.mean(axis=0)
    scale = np.maximum(logged.std(axis=0), _MIN_SCALE)
    return torch.tensor(center, dtype=torch.float32), torch.tensor(scale, dtype=torch.float32)


def _augment(
    series: torch.Tensor, settings: TrainSettings, generator: torch.Generator
) -> torch.Tensor:
    """A random sub-window of every series, stretched back to full length, with reading noise."""
    batch, slots, steps, metrics = series.shape
    keep = float(torch.empty(1).uniform_(settings.min_crop, 1.0, generator=generator))
    length = max(2, round(keep * steps))
    start = int(torch.randint(0, steps - length + 1, (1,), generator=generator))
    window = series[:, :, start : start + length].reshape(batch * slots, length, metrics)
    stretched = nn.functional.interpolate(
        window.transpose(1, 2), size=steps, mode="linear", align_corners=True
    ).transpose(1, 2)
    noise = 1.0 + settings.jitter * torch.randn(stretched.shape, generator=generator)
    gain = torch.exp(
        settings.metric_gain * torch.randn((batch * slots, 1, metrics), generator=generator)
    )
    return (stretched * noise * gain).reshape(batch, slots, steps, metrics)


def _train_member(
    examples: Examples,
    settings: TrainSettings,
    *,
    seed: int,
    demand_metric: int | None,
    report: Callable[[str], None],
) -> DualBranchInterference:
    torch.set_num_threads(settings.threads)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    center, scale = _normalization(examples.inputs)
    _, slots, steps, metrics = examples.inputs.shape
    shape = ModelShape(
        slots=slots,
        steps=steps,
        metrics=metrics,
        width=settings.width,
        heads=settings.heads,
        layers=settings.layers,
        demand_metric=demand_metric if settings.demand_prior else None,
    )
    model = DualBranchInterference(shape, center=center, scale=scale)
    series = torch.tensor(examples.inputs)
    modes = torch.tensor(examples.modes).reshape(-1, 1)
    targets = torch.tensor(examples.targets)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    batches_per_epoch = max(1, -(-len(examples) // settings.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=settings.learning_rate,
        total_steps=settings.epochs * batches_per_epoch,
        pct_start=0.1,
    )
    model.train()
    for epoch in range(settings.epochs):
        order = torch.randperm(len(examples), generator=generator)
        total = 0.0
        for first in range(0, len(examples), settings.batch_size):
            chosen = order[first : first + settings.batch_size]
            predicted = model(_augment(series[chosen], settings, generator), modes[chosen])
            loss = nn.functional.l1_loss(predicted, targets[chosen])
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call,unused-ignore]
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(chosen)
        if (epoch + 1) % 20 == 0 or epoch + 1 == settings.epochs:
            report(
                f"seed {seed} epoch {epoch + 1}/{settings.epochs}: L1 {total / len(examples):.4f}"
            )
    model.eval()
    return model


def fit(
    examples: Examples,
    settings: TrainSettings,
    *,
    metrics: Sequence[str],
    report: Callable[[str], None] = print,
) -> nn.Module:
    """An ensemble of `settings.ensemble` dual-branch models trained on `examples` (whose last
    axis is `metrics`), in eval mode; called as `model(series, mode)` it returns P per row."""
    demand_metric = list(metrics).index(LOAD_METRIC)
    members = [
        _train_member(
            examples,
            settings,
            seed=settings.seed + index,
            demand_metric=demand_metric,
            report=report,
        )
        for index in range(settings.ensemble)
    ]
    return _Ensemble(members).eval()


def export_onnx(
    model: nn.Module, examples: Examples, path: pathlib.Path, *, metadata: Mapping[str, str]
) -> None:
    """Writes `model` as ONNX (inputs `series`, `mode`; output `p`; any batch size) with
    `metadata` stored as the model's metadata properties."""
    sample_series = torch.tensor(examples.inputs[:2])
    sample_modes = torch.tensor(examples.modes[:2]).reshape(-1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (sample_series, sample_modes),
            str(path),
            input_names=["series", "mode"],
            output_names=["p"],
            dynamic_axes={"series": {0: "batch"}, "mode": {0: "batch"}, "p": {0: "batch"}},
            opset_version=17,
            # The TorchScript exporter (deprecated, still supported) needs nothing beyond torch;
            # the torch.export-based one would add onnxscript to the `train` extra.
            dynamo=False,
        )
    exported = onnx.load(str(path))
    for key, value in metadata.items():
        entry = exported.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(exported, str(path))
