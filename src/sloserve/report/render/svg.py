"""Charts drawn as inline SVG, so the HTML report needs no script and no network.

Series colours are exact (`shape-rendering="crispEdges"` for bars and target lines, thick strokes
and filled markers elsewhere), which lets a screenshot test find them pixel for pixel.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime
from html import escape

from sloserve.report import model
from sloserve.report.render import text

#: Colours of the classes, in order of first appearance in the report.
PALETTE: tuple[str, ...] = (
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
)
#: The target line on latency charts.
TARGET_COLOUR = "#d62728"
#: Quantile markers on latency charts.
QUANTILE_COLOUR = "#ff7f0e"
_AXIS = "#444444"
_GRID = "#dddddd"
_FONT = 'font-family="sans-serif" font-size="11"'
# Width of one quantile label ("p99") at the labels' font size, in pixels.
_LABEL_SPACING = 26


def class_colours(names: Sequence[str]) -> dict[str, str]:
    """A colour per class name, in order of first appearance, the palette reused when exhausted."""
    colours: dict[str, str] = {}
    for name in names:
        if name not in colours:
            colours[name] = PALETTE[len(colours) % len(PALETTE)]
    return colours


@dataclasses.dataclass(frozen=True)
class _Frame:
    """The plot area inside an SVG of `width` x `height`, with margins for axes and labels."""

    width: int
    height: int
    left: int = 48
    right: int = 16
    top: int = 28
    bottom: int = 44

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> float:
        return self.top + self.plot_height


def _svg(frame: _Frame, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{frame.width}" height="{frame.height}"'
        f' viewBox="0 0 {frame.width} {frame.height}" role="img" aria-label="{escape(title)}">'
        f'<text x="{frame.left}" y="16" {_FONT} font-weight="bold">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _note(frame: _Frame, message: str) -> str:
    centre_x = frame.left + frame.plot_width / 2
    centre_y = frame.top + frame.plot_height / 2
    return (
        f'<text x="{centre_x:.1f}" y="{centre_y:.1f}" {_FONT} text-anchor="middle"'
        f' fill="{_AXIS}">{escape(message)}</text>'
    )


def attainment_chart(
    *,
    title: str,
    classes: Sequence[tuple[str, str, Sequence[model.TimelinePoint]]],
    start: datetime,
    end: datetime,
    width: int = 720,
    height: int = 260,
) -> str:
    """Attainment (0-100%) over the window, one line per (name, colour, points) class; a step
    in which no request ended leaves a gap in its line."""
    frame = _Frame(width, height, right=36, bottom=56)
    span = max((end - start).total_seconds(), 1e-9)

    def x(time: datetime) -> float:
        return frame.left + frame.plot_width * (time - start).total_seconds() / span

    def y(share: float) -> float:
        return frame.top + frame.plot_height * (1 - share)

    body = []
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(
            f'<line x1="{frame.left}" y1="{y(share):.1f}" x2="{frame.left + frame.plot_width}"'
            f' y2="{y(share):.1f}" stroke="{_GRID}" shape-rendering="crispEdges"/>'
            f'<text x="{frame.left - 6}" y="{y(share) + 4:.1f}" {_FONT} text-anchor="end"'
            f' fill="{_AXIS}">{share * 100:.0f}%</text>'
        )
    for index in range(5):
        tick = frame.left + frame.plot_width * index / 4
        moment = datetime.fromtimestamp(start.timestamp() + span * index / 4, tz=start.tzinfo)
        body.append(
            f'<text x="{tick:.1f}" y="{frame.baseline + 16:.1f}" {_FONT} text-anchor="middle"'
            f' fill="{_AXIS}">{moment.strftime("%H:%M:%S")}</text>'
        )
    drawn = False
    for name, colour, points in classes:
        segment: list[str] = []
        segments: list[list[str]] = []
        for point in points:
            if point.attainment is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            drawn = True
            segment.append(f"{x(point.time):.1f},{y(point.attainment):.1f}")
            body.append(
                f'<circle cx="{x(point.time):.1f}" cy="{y(point.attainment):.1f}" r="4"'
                f' fill="{colour}"><title>{escape(name)}: {text.percent(point.attainment)}'
                f" of {text.count(point.ended)} ended</title></circle>"
            )
        if segment:
            segments.append(segment)
        body.extend(
            f'<polyline points="{" ".join(part)}" fill="none" stroke="{colour}"'
            ' stroke-width="3" stroke-linejoin="round"/>'
            for part in segments
            if len(part) > 1
        )
    if not drawn:
        body.append(_note(frame, "no requests in the window"))
    legend_x = float(frame.left)
    for name, colour, _ in classes:
        body.append(
            f'<rect x="{legend_x:.1f}" y="{frame.height - 16}" width="10" height="10"'
            f' fill="{colour}" shape-rendering="crispEdges"/>'
            f'<text x="{legend_x + 14:.1f}" y="{frame.height - 7}" {_FONT}>'
            f"{escape(text.slo_class(name))}</text>"
        )
        legend_x += 24 + 7 * len(text.slo_class(name))
    body.append(_axes(frame))
    return _svg(frame, title, body)


def _axes(frame: _Frame) -> str:
    return (
        f'<path d="M{frame.left},{frame.top} V{frame.baseline} H{frame.left + frame.plot_width}"'
        f' fill="none" stroke="{_AXIS}" shape-rendering="crispEdges"/>'
    )


def _bucket_label(bucket: model.Bucket) -> str:
    return "+Inf" if bucket.le is None else "≤" + text.seconds(bucket.le).replace(" ", "")


def _position(latency: model.Latency, seconds: float, *, left: float, bar: float) -> float:
    """Where `seconds` falls on the categorical bucket axis: inside its bucket, in proportion to
    its place between the bucket's bounds (the first bucket starts at zero)."""
    lower = 0.0
    for index, bucket in enumerate(latency.buckets):
        if bucket.le is None:
            return left + bar * index
        if seconds <= bucket.le:
            share = (seconds - lower) / (bucket.le - lower) if bucket.le > lower else 1.0
            return left + bar * (index + max(0.0, min(1.0, share)))
        lower = bucket.le
    return left + bar * len(latency.buckets)


def latency_chart(
    latency: model.Latency, *, title: str, colour: str, width: int = 400, height: int = 230
) -> str:
    """The distribution as one bar per bucket, with the target as a vertical line and the p50,
    p90 and p99 as marks above the bars."""
    frame = _Frame(width, height, top=40, bottom=58)
    body = []
    if latency.observations <= 0 or not latency.buckets:
        body.append(_note(frame, "no requests in the window"))
        body.append(_axes(frame))
        return _svg(frame, title, body)
    highest = max(bucket.count for bucket in latency.buckets)
    scale = frame.plot_height / highest if highest > 0 else 0.0
    bar = frame.plot_width / len(latency.buckets)
    for index, bucket in enumerate(latency.buckets):
        left = frame.left + bar * index
        tall = bucket.count * scale
        body.append(
            f'<rect x="{left + 1:.1f}" y="{frame.baseline - tall:.1f}" width="{bar - 2:.1f}"'
            f' height="{tall:.1f}" fill="{colour}" shape-rendering="crispEdges">'
            f"<title>{_bucket_label(bucket)}: {text.count(bucket.count)}</title></rect>"
        )
        centre = left + bar / 2
        body.append(
            f'<text x="{centre:.1f}" y="{frame.baseline + 12:.1f}" {_FONT} font-size="9"'
            f' text-anchor="end" transform="rotate(-40 {centre:.1f} {frame.baseline + 12:.1f})"'
            f' fill="{_AXIS}">{escape(_bucket_label(bucket))}</text>'
        )
    body.append(
        f'<text x="{frame.left - 6}" y="{frame.top + 4}" {_FONT} text-anchor="end"'
        f' fill="{_AXIS}">{text.count(highest)}</text>'
    )
    marks = [
        (_position(latency, quantile.seconds, left=frame.left, bar=bar), quantile)
        for quantile in latency.quantiles
    ]
    for at, _ in marks:
        body.append(
            f'<path d="M{at - 5:.1f},{frame.top - 8} h10 l-5,7 z" fill="{QUANTILE_COLOUR}"/>'
        )
    for at, names in _label_groups(marks):
        body.append(
            f'<text x="{at:.1f}" y="{frame.top - 10}" {_FONT} font-size="9"'
            f' text-anchor="start">{names}</text>'
        )
    if latency.target_seconds is not None:
        at = _position(latency, latency.target_seconds, left=frame.left, bar=bar)
        body.append(
            f'<rect x="{math.floor(at) - 1}" y="{frame.top}" width="3"'
            f' height="{frame.plot_height:.1f}" fill="{TARGET_COLOUR}"'
            f' shape-rendering="crispEdges"><title>target'
            f" {text.seconds(latency.target_seconds)}</title></rect>"
            f'<text x="{at + 5:.1f}" y="{frame.top + 12}" {_FONT} fill="{TARGET_COLOUR}">'
            f"target {text.seconds(latency.target_seconds)}</text>"
        )
    body.append(_axes(frame))
    return _svg(frame, title, body)


def _percentile(quantile: float) -> str:
    return f"{quantile * 100:g}"


def _label_groups(marks: Sequence[tuple[float, model.Quantile]]) -> list[tuple[float, str]]:
    """One label per run of marks too close to be labelled apart ("p90/p99"), placed at the
    run's first mark."""
    groups: list[tuple[float, list[str]]] = []
    for at, quantile in marks:
        name = f"p{_percentile(quantile.quantile)}"
        if groups and at - groups[-1][0] < _LABEL_SPACING * len(groups[-1][1]):
            groups[-1][1].append(name)
        else:
            groups.append((at - 5, [name]))
    return [(at, "/".join(names)) for at, names in groups]
