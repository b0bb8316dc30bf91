"""The gateway's Prometheus metrics, summed over every gateway pod."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx
from prometheus_client import parser


def scrape(base_urls: Sequence[str]) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of every gateway's /metrics as (name, labels, value)."""
    samples = []
    for url in base_urls:
        text = httpx.get(f"{url}/metrics", timeout=10.0).raise_for_status().text
        for family in parser.text_string_to_metric_families(text):
            samples += [(s.name, dict(s.labels), float(s.value)) for s in family.samples]
    return samples


def total(
    samples: Sequence[tuple[str, dict[str, str], float]],
    name: str,
    labels: Mapping[str, str],
) -> float:
    """The sum of the samples named `name` whose labels include `labels`."""
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and labels.items() <= sample_labels.items()
    )
