"""The report as one self-contained HTML page: the tables and inline SVG charts, no script, and a
Content-Security-Policy that forbids every fetch, so it opens offline exactly as it was written."""

from __future__ import annotations

from html import escape

from sloserve.report import messages, model
from sloserve.report.render import svg, tables, text

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 19px; margin-top: 32px; } h3 { font-size: 16px; }
p.meta { color: #555; }
.problem { background: #fff4d6; border: 1px solid #e0b84c; padding: 8px 12px; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
caption { text-align: left; font-weight: bold; padding: 4px 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; }
td.num, th.num { text-align: right; }
.good { color: #1a7f37; } .bad { color: #c62828; font-weight: bold; }
.muted { color: #999; } .strong { font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; }
.warnings li { color: #8a5a00; }
"""


def _table(spec: tables.Table) -> str:
    head = "".join(
        f'<th class="{"num" if numeric else ""}">{escape(column)}</th>'
        for column, numeric in zip(spec.columns, spec.numeric, strict=True)
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num " if numeric else ""}{cell.tone}">{escape(cell.text)}</td>'
            for cell, numeric in zip(row, spec.numeric, strict=True)
        )
        + "</tr>"
        for row in spec.rows
    )
    return (
        f"<table><caption>{escape(spec.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _class_names(report: model.Report) -> list[str]:
    return [
        cls.name
        for cluster in report.clusters
        for namespace in cluster.namespaces
        for service in namespace.modelservices
        for cls in service.classes
    ]


def _service_section(
    report: model.Report, service: model.ModelServiceReport, colours: dict[str, str]
) -> str:
    heading = text.qualified(service)
    timeline = svg.attainment_chart(
        title=f"Attainment over time — {heading}",
        classes=[(cls.name, colours[cls.name], cls.timeline) for cls in service.classes],
        start=report.window.start,
        end=report.window.end,
    )
    figures = "".join(
        f"<figure>{svg.latency_chart(latency, title=title, colour=colours[cls.name])}</figure>"
        for cls in service.classes
        for latency, title in (
            (cls.ttft, f"{text.slo_class(cls.name)}: TTFT"),
            (cls.tpot, f"{text.slo_class(cls.name)}: TPOT"),
        )
    )
    return (
        f"<section><h3>{escape(heading)} <small>({escape(service.model)})</small></h3>"
        f"<figure>{timeline}</figure>"
        f'<div class="charts">{figures}</div></section>'
    )


def render(report: model.Report) -> str:
    """The page. Every text from the report is escaped; nothing is fetched when it opens."""
    colours = svg.class_colours(_class_names(report))
    title = f"SLO report for {messages.describe_window(report)}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">Source: {escape(messages.describe_source(report))}. Generated'
        f" {report.generated_at.strftime('%Y-%m-%d %H:%M:%S UTC')}. Latency charts: one bar per"
        " histogram bucket, the class's target as a red line, p50/p90/p99 marked above.</p>",
    ]
    problem = messages.no_metrics(report) or messages.no_traffic(report)
    if problem is not None:
        parts.append(f'<p class="problem">{escape(problem)}</p>')
    for cluster in report.clusters:
        parts.append(f"<h2>Cluster {escape(cluster.name)}</h2>")
        parts.extend(_table(spec) for spec in tables.cluster_tables(cluster))
        parts.extend(
            _service_section(report, service, colours)
            for namespace in cluster.namespaces
            for service in namespace.modelservices
        )
    if report.warnings:
        items = "".join(f"<li>{escape(warning)}</li>" for warning in report.warnings)
        parts.append(f'<h2>Warnings</h2><ul class="warnings">{items}</ul>')
    parts.append("</body></html>\n")
    return "\n".join(parts)
