"""Renderers: the report as a terminal table, JSON, Markdown or a self-contained HTML page."""

from __future__ import annotations

from typing import Literal

from sloserve.report import model
from sloserve.report.render import html, markdown, terminal

Format = Literal["table", "json", "markdown", "html"]
FORMATS: tuple[Format, ...] = ("table", "json", "markdown", "html")


def render(report: model.Report, fmt: Format, *, width: int = 160) -> str:
    """The report in format `fmt` as text; `width` applies to the plain-text table only."""
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "markdown":
        return markdown.render(report)
    if fmt == "html":
        return html.render(report)
    return terminal.render_text(report, width=width)
