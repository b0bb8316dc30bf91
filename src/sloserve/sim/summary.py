"""Per-run and per-class summaries of request records, as SCORPIO reports them.

- goodput = requests that attained both objectives / duration (requests per second);
- adherence = requests that attained both objectives / all requests, rejected ones counted as
  misses;
- duration = from the first arrival to the last request's end (its last token, or its rejection),
  the span a benchmark client measures. Every class of a run shares the run's duration.
"""

import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sloserve.sim import records


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Counts and rates over a set of requests; latency quantiles over the served ones (None when
    none was served)."""

    requests: int
    served: int
    rejected: int
    good: int
    goodput_rps: float
    adherence: float
    rejected_by_reason: dict[str, int]
    output_tokens: int
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    tpot_p50_s: float | None
    tpot_p99_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """A whole run: `overall`, and `by_class` keyed by class name (in first-seen order)."""

    duration_s: float
    overall: Summary
    by_class: dict[str, Summary]


def summarize(request_records: Sequence[records.RequestRecord]) -> RunSummary:
    """Summarize a run's records; raises ValueError when there are none."""
    if not request_records:
        raise ValueError("no request records to summarize: the run had no requests")
    start_s = min(record.arrival_s for record in request_records)
    end_s = max(record.ended_s for record in request_records)
    duration_s = end_s - start_s
    by_class: dict[str, list[records.RequestRecord]] = {}
    for record in request_records:
        by_class.setdefault(record.slo_class, []).append(record)
    return RunSummary(
        duration_s=duration_s,
        overall=_summary(request_records, duration_s),
        by_class={name: _summary(group, duration_s) for name, group in by_class.items()},
    )


def _summary(group: Sequence[records.RequestRecord], duration_s: float) -> Summary:
    served = [record for record in group if record.outcome is records.Outcome.SERVED]
    good = sum(1 for record in served if record.attained)
    reasons = collections.Counter(
        record.reject_reason or "unknown"
        for record in group
        if record.outcome is records.Outcome.REJECTED
    )
    ttfts = sorted(record.ttft_s for record in served if record.ttft_s is not None)
    tpots = sorted(record.tpot_s for record in served if record.tpot_s is not None)
    return Summary(
        requests=len(group),
        served=len(served),
        rejected=len(group) - len(served),
        good=good,
        goodput_rps=good / duration_s if duration_s > 0 else 0.0,
        adherence=good / len(group),
        rejected_by_reason=dict(sorted(reasons.items())),
        output_tokens=sum(record.output_tokens for record in served),
        ttft_p50_s=_quantile(ttfts, 0.5),
        ttft_p99_s=_quantile(ttfts, 0.99),
        tpot_p50_s=_quantile(tpots, 0.5),
        tpot_p99_s=_quantile(tpots, 0.99),
    )


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q` quantile of sorted values; None for none."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]
