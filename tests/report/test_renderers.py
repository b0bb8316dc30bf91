"""The four formats show the same figures; JSON round-trips; the HTML page fetches nothing."""

from __future__ import annotations

import html.parser
import json

from sloserve.report import model, render


def test_json_carries_the_schema_version_and_reads_back_identically(
    recorded_report: model.Report,
) -> None:
    text = render.render(recorded_report, "json")
    assert json.loads(text)["schema_version"] == "sloserve.io/report/v1"
    assert model.Report.model_validate_json(text) == recorded_report


def test_json_writes_the_infinite_bucket_as_null(recorded_report: model.Report) -> None:
    document = json.loads(render.render(recorded_report, "json"))
    buckets = document["clusters"][0]["namespaces"][0]["modelservices"][0]["classes"][0]["ttft"][
        "buckets"
    ]
    assert buckets[-1] == {"le": None, "count": 0.0}


def test_markdown_has_a_row_per_class_and_marks_latencies_over_target(
    recorded_report: model.Report,
) -> None:
    text = render.render(recorded_report, "markdown")
    assert "| team-a | llama-8b | interactive | 200 | 170 | 30 | 130 | 66.7% | 0.43/s |" in text
    assert "| team-a/llama-8b | interactive | TTFT | 500 ms | 333 ms | **900 ms** ✗ |" in text
    assert "| team-a | llama-8b | batch | _0_ | _0_ | _0_ | _0_ | _no requests_ |" in text
    assert "| team-a/llama-8b | interactive | 30 | ttft_unattainable 25, queue_full 5 |" in text
    assert "## Warnings" in text


def test_terminal_table_shows_the_figures_within_its_width(recorded_report: model.Report) -> None:
    text = render.render(recorded_report, "table", width=150)
    assert "66.7%" in text
    assert ">30.00 s" in text
    assert "no requests" in text
    assert "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 150


def test_terminal_table_on_80_columns_cuts_no_figure_and_no_name(
    recorded_report: model.Report,
) -> None:
    text = render.render(recorded_report, "table", width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for shown in ("team-a/llama-8b", "interactive", "66.7%", ">30.00 s", "4.0 / 8.0"):
        assert shown in text
    # The short headers are used only where the full ones do not fit.
    assert " Req " in text
    assert "Requests" not in text
    assert "Requests" in render.render(recorded_report, "table", width=160)


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def test_html_page_has_no_script_and_refers_to_nothing_outside(
    recorded_report: model.Report,
) -> None:
    tags = _tags(render.render(recorded_report, "html"))
    assert "script" not in {tag for tag, _ in tags}
    for _, attributes in tags:
        for name in ("src", "href"):
            assert attributes.get(name) is None
    policies = [
        attrs["content"]
        for tag, attrs in tags
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policies == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:"]


def test_html_draws_a_timeline_per_modelservice_and_two_histograms_per_class(
    recorded_report: model.Report,
) -> None:
    svgs = [attrs for tag, attrs in _tags(render.render(recorded_report, "html")) if tag == "svg"]
    titles = [attrs["aria-label"] or "" for attrs in svgs]
    assert sum(title.startswith("Attainment over time") for title in titles) == 2
    assert sorted(t for t in titles if not t.startswith("Attainment")) == sorted(
        f"{cls}: {objective}"
        for cls in ("interactive", "standard", "batch", "standard")
        for objective in ("TTFT", "TPOT")
    )


def test_html_escapes_names_from_the_metrics(recorded_report: model.Report) -> None:
    hostile = recorded_report.model_copy(update={"warnings": ["<img src=x onerror=alert(1)>"]})
    page = render.render(hostile, "html")
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
