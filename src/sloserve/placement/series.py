"""A workload's solo metric time series, and the fixed-length form the predictor reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["FloatArray", "MetricSeries", "resample"]

FloatArray = npt.NDArray[np.float32]


@dataclasses.dataclass(frozen=True, eq=False)
class MetricSeries:
    """Samples of named metrics over time: `values[t, m]` is metric `names[m]` at step t.

    Missing readings are filled at construction (see `from_samples`), so `values` has no NaN.
    """

    names: tuple[str, ...]
    values: FloatArray

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(
                f"series values have shape {self.values.shape}; expected (steps, {len(self.names)})"
            )
        if self.values.shape[0] < 1:
            raise ValueError("a metric series needs at least one sample")
        if not np.isfinite(self.values).all():
            raise ValueError("metric series values must be finite")

    @classmethod
    def from_samples(
        cls, names: Sequence[str], samples: Sequence[Sequence[float | None]]
    ) -> MetricSeries:
        """Builds a series from rows of readings in `names` order. A missing reading (None) takes
        the mean of that metric's other readings; a metric with no reading at all raises
        ValueError naming it, since zero would be a claim the device never made."""
        if not samples:
            raise ValueError("a metric series needs at least one sample")
        raw = np.array(
            [[np.nan if value is None else value for value in row] for row in samples],
            dtype=np.float64,
        )
        if raw.ndim != 2 or raw.shape[1] != len(names):
            raise ValueError(f"each sample must have {len(names)} readings ({', '.join(names)})")
        for column, name in enumerate(names):
            present = ~np.isnan(raw[:, column])
            if not present.any():
                raise ValueError(f"metric {name!r} has no reading in the series")
            raw[~present, column] = raw[present, column].mean()
        return cls(tuple(names), raw.astype(np.float32))

    def select(self, names: Sequence[str]) -> MetricSeries:
        """The series restricted to (and ordered as) `names`; raises KeyError naming any metric
        the series lacks."""
        index = {name: column for column, name in enumerate(self.names)}
        missing = [name for name in names if name not in index]
        if missing:
            raise KeyError(f"metric series lacks {missing}; it has {list(self.names)}")
        return MetricSeries(tuple(names), self.values[:, [index[name] for name in names]])

    def mean(self, name: str) -> float:
        """Mean of one metric over the series."""
        return float(self.values[:, self.names.index(name)].mean())


def resample(values: FloatArray, steps: int) -> FloatArray:
    """`values` (time x metrics) linearly interpolated onto `steps` evenly spaced points spanning
    the same window, so series of any length and sampling period fit the model's input."""
    count = values.shape[0]
    if count == steps:
        return values
    if count == 1:
        return np.repeat(values, steps, axis=0)
    source = np.linspace(0.0, 1.0, count)
    target = np.linspace(0.0, 1.0, steps)
    columns = [np.interp(target, source, values[:, m]) for m in range(values.shape[1])]
    return np.stack(columns, axis=1).astype(np.float32)
