"""The report as rich tables, for a terminal or (without colour) for a text file."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group, RenderableType
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


def _table(spec: tables.Table) -> Table:
    table = Table(title=spec.title, title_justify="left", box=box.SIMPLE_HEAD)
    for column, numeric in zip(spec.columns, spec.numeric, strict=True):
        table.add_column(column, justify="right" if numeric else "left")
    for row in spec.rows:
        table.add_row(*(Text(cell.text, style=_STYLES[cell.tone]) for cell in row))
    return table


def renderable(report: model.Report) -> RenderableType:
    """Everything the terminal shows, as one rich renderable."""
    parts: list[RenderableType] = [
        Text(f"SLO report for {messages.describe_window(report)}", style="bold"),
        Text(f"source: {messages.describe_source(report)}", style="dim"),
    ]
    problem = messages.no_metrics(report) or messages.no_traffic(report)
    if problem is not None:
        parts.append(Text(problem, style="yellow"))
    for cluster in report.clusters:
        parts.append(Text(f"\nCluster {cluster.name}", style="bold underline"))
        parts.extend(_table(spec) for spec in tables.cluster_tables(cluster))
    for warning in report.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)


def render_text(report: model.Report, *, width: int) -> str:
    """The tables as plain text (no colour codes), `width` columns wide."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(
        renderable(report)
    )
    return buffer.getvalue()
