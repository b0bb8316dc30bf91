"""Reading the Prometheus text exposition format (what `GET /metrics` answers)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from prometheus_client import parser

from sloserve.report import metric_names, samples

#: A scrape's numbers, keyed by (sample name, labels).
ScrapedValues = dict[tuple[str, samples.LabelSet], float]


def parse_exposition(
    text: str, *, wanted: Collection[str], target_labels: Mapping[str, str]
) -> ScrapedValues:
    """The samples named in `wanted` (in any of their spellings, see `metric_names.ALIASES`)
    from one scrape, under their canonical names. `target_labels` are added to every sample
    that does not carry that label already (the exporter's own labels win, as with Prometheus'
    `honor_labels`). Raises ValueError when `text` is not in the text exposition format."""
    values: ScrapedValues = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            name = metric_names.canonical(sample.name)
            if name not in wanted:
                continue
            labels = {**target_labels, **sample.labels}
            values[(name, samples.label_set(labels))] = float(sample.value)
    return values
