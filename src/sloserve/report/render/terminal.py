"""The report as rich tables, for a terminal or (without colour) for a text file."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from sloserve.report import messages, model
from sloserve.report.render import tables

_STYLES: dict[tables.Tone, str] = {
    "plain": "",
    "good": "green",
    "bad": "bold red",
    "muted": "dim",
    "strong": "bold",
}


#: Shorter headers for a table that does not fit the terminal at full width: the figures are a
#: few characters wide, their headers are what make a table overflow 80 columns.
_SHORT_HEADERS: dict[str, str] = {
    "Namespace": "NS",
    "Requests": "Req",
    "Admitted": "Adm",
    "Rejected": "Rej",
    "Attained": "Met",
    "Attainment": "Attain",
    "Objective": "Obj",
    "Engines": "Eng",
    "Running": "Run",
    "Waiting": "Wait",
    "KV cache": "KV",
    "KV cache max": "KV max",
    "Gateway in flight": "In flight",
    "Queue mean / max": "Queue",
}

_UNBOUNDED_WIDTH = 100_000


def _table(spec: tables.Table, *, compact: bool) -> Table:
    """A rich table of `spec`; `compact` draws it with short headers, without padding (the box's
    blank divider leaves one space between columns) and without the blank edges."""
    table = (
        Table(
            title=spec.title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=0,
            show_edge=False,
        )
        if compact
        else Table(title=spec.title, title_justify="left", box=box.SIMPLE_HEAD)
    )
    for column, numeric in zip(spec.columns, spec.numeric, strict=True):
        header = _SHORT_HEADERS.get(column, column) if compact else column
        table.add_column(header, justify="right" if numeric else "left")
    for row in spec.rows:
        table.add_row(*(Text(cell.text, style=_STYLES[cell.tone]) for cell in row))
    return table


def _fitted(spec: tables.Table, console: Console) -> RenderableType:
    """The table at full width when it fits the console, else compact after a blank line."""
    full = _table(spec, compact=False)
    # Measured without the console's width, which would clamp the answer to it.
    unbounded = console.options.update_width(_UNBOUNDED_WIDTH)
    if Measurement.get(console, unbounded, full).maximum <= console.width:
        return full
    return Padding(_table(spec, compact=True), (1, 0, 0, 0))


def renderable(report: model.Report, console: Console) -> RenderableType:
    """Everything the terminal shows, as one rich renderable for `console` (tables that do not
    fit its width are drawn compact)."""
    parts: list[RenderableType] = [
        Text(f"SLO report for {messages.describe_window(report)}", style="bold"),
        Text(f"source: {messages.describe_source(report)}", style="dim"),
    ]
    problem = messages.no_metrics(report) or messages.no_traffic(report)
    if problem is not None:
        parts.append(Text(problem, style="yellow"))
    for cluster in report.clusters:
        parts.append(Text(f"\nCluster {cluster.name}", style="bold underline"))
        parts.extend(_fitted(spec, console) for spec in tables.cluster_tables(cluster))
    for warning in report.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)


def render_text(report: model.Report, *, width: int) -> str:
    """The tables as plain text (no colour codes), `width` columns wide."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    console.print(renderable(report, console))
    return buffer.getvalue()
