"""What a collector hands to the computation: labelled numbers over one window.

Both collectors (a Prometheus server's HTTP API, or scrapes of the gateways themselves) produce the
same `WindowSamples`, so the computation never knows where the numbers came from and can be tested
with recorded samples.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Literal

#: Labels of one series, sorted by name so that equal label sets compare and hash equal.
LabelSet = tuple[tuple[str, str], ...]

SourceKind = Literal["prometheus", "gateways"]


def label_set(labels: Mapping[str, str]) -> LabelSet:
    """The canonical (sorted) form of a label mapping; the metric name (`__name__`) is dropped."""
    return tuple(sorted((key, value) for key, value in labels.items() if key != "__name__"))


def label_value(labels: LabelSet, key: str) -> str:
    """The value of label `key`, or "" when the series does not carry it (as in PromQL)."""
    for name, value in labels:
        if name == key:
            return value
    return ""


@dataclasses.dataclass(frozen=True)
class Series:
    """One series of metric `name` and its number: for counters, the increase over the window."""

    name: str
    labels: LabelSet
    value: float

    def label(self, key: str) -> str:
        return label_value(self.labels, key)


@dataclasses.dataclass(frozen=True)
class GaugeSeries:
    """One gauge series summarised over the window: its last value, time mean and maximum."""

    name: str
    labels: LabelSet
    last: float
    mean: float
    maximum: float

    def label(self, key: str) -> str:
        return label_value(self.labels, key)


@dataclasses.dataclass(frozen=True)
class CounterTrace:
    """The raw values of one counter series at the steps of the window, as (unix time, value),
    oldest first. A step at which the series had no sample is absent; a value lower than the one
    before it means the counter was reset (its process restarted)."""

    name: str
    labels: LabelSet
    points: tuple[tuple[float, float], ...]

    def label(self, key: str) -> str:
        return label_value(self.labels, key)


@dataclasses.dataclass(frozen=True)
class Source:
    """Where the samples came from: a Prometheus server, or the gateways (and engines) scraped."""

    kind: SourceKind
    urls: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class WindowSamples:
    """Everything the report is computed from.

    `start` and `end` are unix seconds; `step_seconds` is the spacing of the timeline. `increases`
    holds one entry per counter series (histogram `_bucket` series included) with its increase
    over the window, `gauges` the gauge summaries, `timeline` the raw values of the timeline
    counters at each step. `warnings` carry anything the collector noticed but could still work
    around (a target that failed one scrape, say); the report repeats them to the reader.
    """

    source: Source
    start: float
    end: float
    step_seconds: float
    increases: tuple[Series, ...]
    gauges: tuple[GaugeSeries, ...]
    timeline: tuple[CounterTrace, ...]
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end) and self.end > self.start):
            raise ValueError(f"window end ({self.end}) must come after its start ({self.start})")
        if not self.step_seconds > 0:
            raise ValueError(f"step_seconds must be positive, got {self.step_seconds}")

    @property
    def seconds(self) -> float:
        return self.end - self.start
