"""docs/report.md documents every field of the JSON report, under the current schema version."""

from __future__ import annotations

import pathlib
import re

from pydantic import BaseModel

from sloserve.report import model

DOC = pathlib.Path(__file__).parents[2] / "docs" / "report.md"
RECORDS: tuple[type[BaseModel], ...] = (
    model.Report,
    model.Window,
    model.SourceInfo,
    model.ClusterReport,
    model.NamespaceReport,
    model.ModelServiceReport,
    model.ClassReport,
    model.TimelinePoint,
    model.Counts,
    model.Latency,
    model.Quantile,
    model.Bucket,
    model.EngineReport,
    model.Utilization,
)


def _schema_block() -> str:
    text = DOC.read_text()
    match = re.search(r"### JSON schema \(`(?P<version>[^`]+)`\)\n(?P<body>.*?)\n## ", text, re.S)
    assert match is not None, "docs/report.md has no JSON schema section"
    assert match["version"] == model.SCHEMA_VERSION
    return match["body"]


def test_every_field_of_the_report_is_documented() -> None:
    block = _schema_block()
    missing = [
        f"{record.__name__}.{field}"
        for record in RECORDS
        for field in record.model_fields
        if f'"{field}"' not in block
    ]
    assert missing == []
