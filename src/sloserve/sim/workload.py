"""Workloads for the simulator and the benchmarks: request lengths, arrival times and class mixes.

Lengths come from the Azure LLM inference trace (conversation service, 2023; CC-BY 4.0,
Patel et al., "Splitwise", ISCA 2024), shipped in `sloserve/sim/traces/`. Arrivals are either the
trace's own timestamps (optionally rescaled to a target rate) or drawn from a Poisson or Gamma
process: a Gamma process with shape below 1 is burstier than Poisson at the same mean rate.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path

import numpy as np

AZURE_CONVERSATION_TRACE = "azure_llm_2023_conv.csv"


@dataclasses.dataclass(frozen=True)
class TraceRecord:
    """One request of a trace: seconds since the trace's first request, and its token counts."""

    offset_s: float
    prompt_tokens: int
    output_tokens: int


@dataclasses.dataclass(frozen=True)
class ClassShare:
    """A service class in a mix, with its targets and its share of the requests."""

    name: str
    ttft_s: float
    tpot_s: float
    weight: float = 1.0


# SCORPIO's evaluation picks uniformly among these three (TTFT, TPOT) pairs.
SCORPIO_CLASSES: tuple[ClassShare, ...] = (
    ClassShare("interactive", ttft_s=0.5, tpot_s=0.050),
    ClassShare("standard", ttft_s=3.0, tpot_s=0.030),
    ClassShare("batch", ttft_s=15.0, tpot_s=0.050),
)


@dataclasses.dataclass(frozen=True)
class WorkloadRequest:
    """A request the simulator will issue: when, how long, which class."""

    request_id: str
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    slo_class: ClassShare
    # what is known of the prompt's content: ids of consecutive `prefix_block_tokens`-token runs
    # (`scheduling.prefix_blocks`), for prefix caching; and the conversation it belongs to
    prefix_ids: tuple[int, ...] = ()
    prefix_block_tokens: int = 512
    session_id: str | None = None


class Arrivals(enum.StrEnum):
    """How arrival times are generated."""

    POISSON = "poisson"
    GAMMA = "gamma"
    TRACE = "trace"


@dataclasses.dataclass(frozen=True)
class LengthLimits:
    """Clamp lengths the way SCORPIO filters its datasets (prompt ≤ 1024, prompt + output ≤ 2048).

    `None` keeps a trace's lengths as they are.
    """

    max_prompt_tokens: int | None = None
    max_total_tokens: int | None = None

    def apply(self, prompt_tokens: int, output_tokens: int) -> tuple[int, int]:
        prompt = max(1, prompt_tokens)
        output = max(1, output_tokens)
        if self.max_prompt_tokens is not None:
            prompt = min(prompt, self.max_prompt_tokens)
        if self.max_total_tokens is not None:
            output = max(1, min(output, self.max_total_tokens - prompt))
        return prompt, output


SCORPIO_LIMITS = LengthLimits(max_prompt_tokens=1024, max_total_tokens=2048)


def load_trace(path: Path | None = None) -> list[TraceRecord]:
    """Read a trace in the Azure format (TIMESTAMP, ContextTokens, GeneratedTokens), sorted by time.

    Without a path, reads the Azure conversation trace shipped with sloserve.
    """
    if path is None:
        text = (resources.files("sloserve.sim") / "traces" / AZURE_CONVERSATION_TRACE).read_text()
    else:
        text = path.read_text()
    return parse_azure_csv(text, source=str(path or AZURE_CONVERSATION_TRACE))


def parse_azure_csv(text: str, *, source: str) -> list[TraceRecord]:
    """The requests of an Azure-format CSV text, sorted by time; a malformed row raises
    ValueError naming `source`, its line number and the column."""
    rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise ValueError(f"trace {source} has no requests")
    missing = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"} - set(rows[0])
    if missing:
        raise ValueError(f"trace {source} lacks the column(s) {sorted(missing)}")
    stamps: list[datetime] = []
    lengths: list[tuple[int, int]] = []
    # line 1 is the header
    for line, row in enumerate(rows, start=2):
        column = "TIMESTAMP"
        try:
            stamps.append(_parse_timestamp(row[column] or ""))
            column = "ContextTokens"
            prompt = int(row[column] or "")
            column = "GeneratedTokens"
            output = int(row[column] or "")
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"{source} line {line}: column {column} has {row.get(column)!r}, not a "
                f"{'time' if column == 'TIMESTAMP' else 'whole number'}"
            ) from error
        lengths.append((prompt, output))
    start = min(stamps)
    records = [
        TraceRecord(
            offset_s=(stamp - start).total_seconds(), prompt_tokens=prompt, output_tokens=output
        )
        for stamp, (prompt, output) in zip(stamps, lengths, strict=True)
    ]
    records.sort(key=lambda record: record.offset_s)
    return records


def _parse_timestamp(value: str) -> datetime:
    # The trace writes seven fractional digits; datetime takes at most six.
    head, _, fraction = value.strip().partition(".")
    return datetime.fromisoformat(f"{head}.{fraction[:6].ljust(6, '0')}" if fraction else head)


def arrival_times(
    *,
    count: int,
    rate_rps: float,
    process: Arrivals,
    rng: np.random.Generator,
    gamma_cv: float = 2.0,
) -> np.ndarray:
    """Arrival times (seconds from 0) of `count` requests at mean rate `rate_rps`.

    For the Gamma process, `gamma_cv` is the coefficient of variation of the gaps (1 is Poisson).
    """
    if rate_rps <= 0:
        raise ValueError(f"rate_rps must be positive, got {rate_rps}")
    mean_gap = 1.0 / rate_rps
    if process is Arrivals.POISSON:
        gaps = rng.exponential(mean_gap, size=count)
    elif process is Arrivals.GAMMA:
        shape = 1.0 / (gamma_cv**2)
        gaps = rng.gamma(shape, mean_gap / shape, size=count)
    else:
        raise ValueError(
            "trace arrivals come from the trace itself; use build_workload(arrivals=TRACE)"
        )
    times: np.ndarray = np.cumsum(gaps) - gaps[0]
    return times


def build_workload(
    *,
    count: int,
    rate_rps: float,
    arrivals: Arrivals = Arrivals.POISSON,
    classes: Sequence[ClassShare] = SCORPIO_CLASSES,
    limits: LengthLimits = LengthLimits(),
    trace: Sequence[TraceRecord] | None = None,
    seed: int = 0,
    gamma_cv: float = 2.0,
) -> list[WorkloadRequest]:
    """A reproducible workload: trace lengths, arrivals from `arrivals`, classes drawn by weight.

    With `Arrivals.TRACE` the first `count` trace requests keep their own spacing, rescaled so the
    mean rate is `rate_rps`; otherwise lengths are drawn from the trace at random. `gamma_cv` is
    the Gamma process's coefficient of variation of the gaps (ignored by the other processes).
    """
    if count <= 0:
        raise ValueError(f"count must be positive, got {count}")
    if not classes:
        raise ValueError("a workload needs at least one class")
    rng = np.random.default_rng(seed)
    records = list(trace) if trace is not None else load_trace()
    if arrivals is Arrivals.TRACE:
        chosen = records[:count]
        span = chosen[-1].offset_s - chosen[0].offset_s
        natural_rate = (len(chosen) - 1) / span if span > 0 else rate_rps
        times = np.array([(r.offset_s - chosen[0].offset_s) for r in chosen]) * (
            natural_rate / rate_rps
        )
    else:
        picks = rng.integers(0, len(records), size=count)
        chosen = [records[i] for i in picks]
        times = arrival_times(
            count=count, rate_rps=rate_rps, process=arrivals, rng=rng, gamma_cv=gamma_cv
        )
    weights = np.array([share.weight for share in classes], dtype=float)
    class_picks = rng.choice(len(classes), size=len(chosen), p=weights / weights.sum())
    workload = []
    for index, (record, arrival, class_index) in enumerate(
        zip(chosen, times, class_picks, strict=True)
    ):
        prompt, output = limits.apply(record.prompt_tokens, record.output_tokens)
        workload.append(
            WorkloadRequest(
                request_id=f"req-{index:06d}",
                arrival_s=float(arrival),
                prompt_tokens=prompt,
                output_tokens=output,
                slo_class=classes[int(class_index)],
            )
        )
    return workload
