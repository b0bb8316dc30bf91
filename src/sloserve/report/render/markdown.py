"""The report as GitHub-flavoured Markdown: headings, a line on the window, and pipe tables."""

from __future__ import annotations

from sloserve.report import messages, model
from sloserve.report.render import tables


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


def _cell(cell: tables.Cell) -> str:
    content = _escape(cell.text)
    if cell.tone == "bad":
        return f"**{content}** ✗" if content else content
    if cell.tone == "strong" and content:
        return f"**{content}**"
    if cell.tone == "muted" and content:
        return f"_{content}_"
    return content


def _table(spec: tables.Table) -> list[str]:
    lines = [
        f"### {spec.title}",
        "",
        "| " + " | ".join(_escape(column) for column in spec.columns) + " |",
        "|" + "|".join("---:" if numeric else "---" for numeric in spec.numeric) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in spec.rows)
    lines.append("")
    return lines


def render(report: model.Report) -> str:
    lines = [
        f"# SLO report for {messages.describe_window(report)}",
        "",
        f"Source: {messages.describe_source(report)}. Generated"
        f" {report.generated_at.strftime('%Y-%m-%d %H:%M:%S UTC')}."
        " Latencies marked ✗ exceed their class's target.",
        "",
    ]
    problem = messages.no_metrics(report) or messages.no_traffic(report)
    if problem is not None:
        lines.extend([f"> **{_escape(problem)}**", ""])
    for cluster in report.clusters:
        lines.extend([f"## Cluster {_escape(cluster.name)}", ""])
        for spec in tables.cluster_tables(cluster):
            lines.extend(_table(spec))
    if report.warnings:
        lines.extend(["## Warnings", ""])
        lines.extend(f"- {_escape(warning)}" for warning in report.warnings)
        lines.append("")
    return "\n".join(lines)
