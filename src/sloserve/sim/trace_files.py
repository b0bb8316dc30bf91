"""Reading a user's trace file for the simulator: three formats, one record.

- **azure**: the Azure LLM inference trace CSV (columns TIMESTAMP, ContextTokens,
  GeneratedTokens), as `workload.load_trace` reads it.
- **mooncake**: the Mooncake FAST'25 trace JSONL, one object a line: `timestamp` (milliseconds
  from the start), `input_length`, `output_length` (tokens) and `hash_ids`, ids of the prompt's
  512-token blocks (equal ids: equal prefixes, reusable KV blocks).
- **jsonl**: sloserve's generic JSONL, one object a line:

      {"arrival_s": 0.25, "prompt_tokens": 1800, "output_tokens": 120,
       "prefix_ids": [17, 18, 4031], "prefix_block_tokens": 512,
       "class": "interactive", "session": "chat-42"}

  `arrival_s`, `prompt_tokens` and `output_tokens` are required; `prefix_ids` (content ids of
  consecutive `prefix_block_tokens`-token runs of the prompt, default 512 tokens each), `class`
  (an SLO class name) and `session` are optional.

Files ending in `.gz` are read through gzip; `detect_format` picks the format from the name
(`.csv` azure; `.jsonl` with `hash_ids` in the first line mooncake, else jsonl). A malformed line
raises ValueError naming the file, the line number and the field.
"""

from __future__ import annotations

import dataclasses
import enum
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sloserve.sim import workload

MOONCAKE_BLOCK_TOKENS = 512


class TraceFormat(enum.StrEnum):
    """The trace formats `read_trace` knows."""

    AZURE = "azure"
    MOONCAKE = "mooncake"
    JSONL = "jsonl"


@dataclasses.dataclass(frozen=True)
class TraceEntry:
    """One request of a trace file: seconds since the trace's first request, lengths, and what
    the file says of its content, class and session."""

    offset_s: float
    prompt_tokens: int
    output_tokens: int
    prefix_ids: tuple[int, ...] = ()
    prefix_block_tokens: int = MOONCAKE_BLOCK_TOKENS
    slo_class: str | None = None
    session: str | None = None


def read_text(path: Path) -> str:
    """The file's text, through gzip when its name ends in `.gz`."""
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return handle.read()
    return path.read_text(encoding="utf-8")


def detect_format(path: Path, text: str) -> TraceFormat:
    """The format of `path` from its name and first line."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".csv"):
        return TraceFormat.AZURE
    first = next((line for line in text.splitlines() if line.strip()), "")
    if '"hash_ids"' in first:
        return TraceFormat.MOONCAKE
    return TraceFormat.JSONL


def read_trace(path: Path, trace_format: TraceFormat | None = None) -> list[TraceEntry]:
    """Every request of the trace at `path`, sorted by time, offsets from the first request."""
    text = read_text(path)
    chosen = trace_format or detect_format(path, text)
    if chosen is TraceFormat.AZURE:
        entries = [
            TraceEntry(
                offset_s=record.offset_s,
                prompt_tokens=record.prompt_tokens,
                output_tokens=record.output_tokens,
            )
            for record in workload.parse_azure_csv(text, source=str(path))
        ]
    elif chosen is TraceFormat.MOONCAKE:
        entries = [_mooncake(row, path, number) for number, row in _json_lines(text, path)]
    else:
        entries = [_generic(row, path, number) for number, row in _json_lines(text, path)]
    if not entries:
        raise ValueError(f"trace {path} has no requests")
    entries.sort(key=lambda entry: entry.offset_s)
    start = entries[0].offset_s
    return [dataclasses.replace(entry, offset_s=entry.offset_s - start) for entry in entries]


def _json_lines(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} line {number}: not JSON ({error.msg})") from error
        if not isinstance(row, dict):
            raise ValueError(f"{path} line {number}: must be a JSON object, got {line[:40]!r}")
        yield number, row


def _number(row: dict[str, Any], field: str, path: Path, line: int, *, minimum: float) -> float:
    if field not in row:
        raise ValueError(f"{path} line {line}: field {field!r} is missing")
    value = row[field]
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= minimum:
        raise ValueError(
            f"{path} line {line}: field {field!r} must be a number at or above {minimum:g}, "
            f"got {value!r}"
        )
    return float(value)


def _whole(row: dict[str, Any], field: str, path: Path, line: int, *, minimum: int) -> int:
    value = _number(row, field, path, line, minimum=minimum)
    if value != int(value):
        raise ValueError(f"{path} line {line}: field {field!r} must be a whole number, got {value}")
    return int(value)


def _ids(row: dict[str, Any], field: str, path: Path, line: int) -> tuple[int, ...]:
    value = row.get(field, [])
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        raise ValueError(f"{path} line {line}: field {field!r} must be a list of integers")
    return tuple(value)


def _text(row: dict[str, Any], field: str, path: Path, line: int) -> str | None:
    value = row.get(field)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise ValueError(f"{path} line {line}: field {field!r} must be a non-empty string")
    return str(value)


def _mooncake(row: dict[str, Any], path: Path, line: int) -> TraceEntry:
    return TraceEntry(
        offset_s=_number(row, "timestamp", path, line, minimum=0) / 1000.0,
        prompt_tokens=_whole(row, "input_length", path, line, minimum=1),
        output_tokens=_whole(row, "output_length", path, line, minimum=1),
        prefix_ids=_ids(row, "hash_ids", path, line),
        prefix_block_tokens=MOONCAKE_BLOCK_TOKENS,
    )


def _generic(row: dict[str, Any], path: Path, line: int) -> TraceEntry:
    known = {
        "arrival_s",
        "prompt_tokens",
        "output_tokens",
        "prefix_ids",
        "prefix_block_tokens",
        "class",
        "session",
    }
    unknown = sorted(set(row) - known)
    if unknown:
        raise ValueError(
            f"{path} line {line}: unknown field(s) {', '.join(unknown)}; the fields are "
            f"{', '.join(sorted(known))}"
        )
    block_tokens = MOONCAKE_BLOCK_TOKENS
    if "prefix_block_tokens" in row:
        block_tokens = _whole(row, "prefix_block_tokens", path, line, minimum=1)
    return TraceEntry(
        offset_s=_number(row, "arrival_s", path, line, minimum=0),
        prompt_tokens=_whole(row, "prompt_tokens", path, line, minimum=1),
        output_tokens=_whole(row, "output_tokens", path, line, minimum=1),
        prefix_ids=_ids(row, "prefix_ids", path, line),
        prefix_block_tokens=block_tokens,
        slo_class=_text(row, "class", path, line),
        session=_text(row, "session", path, line),
    )
