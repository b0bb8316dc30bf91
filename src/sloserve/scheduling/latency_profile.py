"""The latency profile file format (`sloserve.latency-profile/v1`): measured GPU step times.

One JSON document per profile: prefill times by prompt tokens, decode-step times by batch and
context, optional mixed (chunked-prefill) steps, the per-step CPU overhead a real engine adds, and
how it was measured. All `ms` values are GPU wall times (median of repeats) in milliseconds; the
CPU overhead is not included in them. The engine simulator and the latency models both read it.
"""

from typing import Literal

import pydantic

SCHEMA_V1 = "sloserve.latency-profile/v1"


class _Record(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class ModelShape(pydantic.BaseModel):
    """The decoder the profile was measured on (descriptive; extra keys are kept)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="allow")

    shape: str
    layers: pydantic.PositiveInt
    hidden: pydantic.PositiveInt
    heads: pydantic.PositiveInt
    kv_heads: pydantic.PositiveInt
    intermediate: pydantic.PositiveInt
    vocab: pydantic.PositiveInt
    dtype: str


class PrefillPoint(_Record):
    """One forward pass over a single fresh prompt of `tokens` tokens took `ms` milliseconds."""

    tokens: pydantic.PositiveInt
    ms: pydantic.PositiveFloat


class DecodePoint(_Record):
    """One decode step of `batch` sequences, each attending over `context` cached tokens."""

    batch: pydantic.PositiveInt
    context: pydantic.NonNegativeInt
    ms: pydantic.PositiveFloat


class MixedPoint(_Record):
    """One chunked-prefill step: a prefill chunk plus a decode batch in one forward pass."""

    prefill_tokens: pydantic.PositiveInt
    batch: pydantic.NonNegativeInt
    context: pydantic.NonNegativeInt
    ms: pydantic.PositiveFloat


class Provenance(pydantic.BaseModel):
    """How the profile was measured (extra keys are kept)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="allow")

    script: str
    command: str
    measured_at: str
    torch: str
    driver: str


class LatencyProfile(_Record):
    """A whole profile file. Validation errors name the offending field (e.g. `decode.3.ms`)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_id: Literal["sloserve.latency-profile/v1"] = pydantic.Field(alias="schema")
    name: str = pydantic.Field(min_length=1)
    device: str
    model: ModelShape
    weights_bytes: pydantic.PositiveInt
    gpu_memory_bytes: pydantic.PositiveInt
    kv_bytes_per_token: pydantic.PositiveInt
    cpu_overhead_ms_per_step: pydantic.NonNegativeFloat
    # Host work that grows with the decode batch (per-sequence scheduling and output handling);
    # profiles measured before it was recorded leave it at 0.
    cpu_overhead_ms_per_sequence: pydantic.NonNegativeFloat = 0.0
    prefill: tuple[PrefillPoint, ...] = pydantic.Field(min_length=2)
    decode: tuple[DecodePoint, ...] = pydantic.Field(min_length=4)
    mixed: tuple[MixedPoint, ...] = ()
    provenance: Provenance


def parse_profile(text: str | bytes) -> LatencyProfile:
    """Parse and validate a profile document; raises pydantic.ValidationError naming the field."""
    return LatencyProfile.model_validate_json(text)
