"""The chart's CRDs are exactly the repository's generated CRDs."""

from __future__ import annotations

from chart import helm_chart
from sloserve.api import crd_files


def test_chart_crds_equal_what_the_models_generate() -> None:
    drifted = crd_files.find_drift([helm_chart.CHART / "crds"])
    assert drifted == [], "run `sloserve crds --output-dir crds --output-dir charts/sloserve/crds`"


def test_chart_crds_equal_the_repository_copy() -> None:
    chart_files = sorted(path.name for path in (helm_chart.CHART / "crds").iterdir())
    repository_files = sorted(path.name for path in (helm_chart.REPOSITORY / "crds").iterdir())
    assert chart_files == repository_files
    for name in chart_files:
        assert (helm_chart.CHART / "crds" / name).read_text() == (
            helm_chart.REPOSITORY / "crds" / name
        ).read_text(), name
