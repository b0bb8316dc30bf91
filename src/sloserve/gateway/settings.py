"""The gateway's settings, grouped by concern.

Every field can be set from the environment with the prefix `SLOSERVE_GATEWAY__` and `__` between
the group and the field, e.g. `SLOSERVE_GATEWAY__SERVER__PORT=8080` or
`SLOSERVE_GATEWAY__SOURCES__TENANTS_FILE=/etc/sloserve/tenants/tenants.yaml`. The CLI's options
override the environment. Nothing here is read at import time: `GatewaySettings()` reads the
environment when it is built.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sloserve.scheduling import calibration
from sloserve.scheduling.routing import plugins


class ServerSettings(BaseModel):
    """Where the gateway listens, and when it says it is ready."""

    host: str = Field(default="0.0.0.0", description="Address to bind (default 0.0.0.0).")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port (default 8080).")
    readiness: Literal["every-model", "any-model"] = Field(
        default="every-model",
        description="When /readyz answers ready: every-model (default) once every model has a "
        "usable latency profile and an engine that answers; any-model once one has (for a "
        "gateway in front of many ModelServices, so that one model's outage does not take the "
        "gateway out of its Service).",
    )
    max_request_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1,
        description="Largest request body accepted, in bytes (default 16 MiB); a larger one is "
        "answered with 413.",
    )
    keep_alive_timeout_s: int = Field(
        default=75,
        ge=1,
        description="Seconds an idle client connection is kept open (default 75: longer than "
        "the idle timeouts of common load balancers, so that they close first).",
    )


class SourceSettings(BaseModel):
    """Where models, engines and tenants come from."""

    config_file: Path | None = Field(
        default=None,
        description="Static models file (YAML or JSON): classes and engine URLs, for local use.",
    )
    tenants_file: Path | None = Field(
        default=None,
        description="Tenants file (YAML or JSON), usually a mounted Secret; reloaded on change.",
    )
    tenants_reload_interval_s: float = Field(
        default=2.0, gt=0, description="Seconds between checks of the tenants file (default 2)."
    )
    kubernetes: bool = Field(
        default=False,
        description="Discover ModelServices and their engines from Kubernetes (default off).",
    )
    namespace: str | None = Field(
        default=None,
        description="Namespace to watch; unset watches all namespaces the gateway may read.",
    )


class ProxySettings(BaseModel):
    """The pooled HTTP client that talks to engines."""

    connect_timeout_s: float = Field(
        default=2.0, gt=0, description="Seconds to open a connection to an engine (default 2)."
    )
    read_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="Seconds an engine may stay silent while a request is open (default 600).",
    )
    max_connections: int = Field(
        default=1000,
        gt=0,
        description="Connections the pool may hold across engines (default 1000).",
    )


class CalibrationConfig(BaseModel):
    """Online calibration of each model's latency model (docs/scheduling.md): two factors on
    the profile's prefill and decode-step times, learnt from what the engines show."""

    enabled: bool = Field(
        default=True,
        description="Refit each model's latency model online from its engines' metrics and the "
        "streams relayed (default on); off: the profile's model is used as it is.",
    )
    gain: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Share of an observation's log error a factor moves by (default 0.05).",
    )
    max_step: float = Field(
        default=math.log(2.0),
        gt=0,
        description="Largest log error one observation counts with (default ln 2): an outlier "
        "moves a factor by at most gain x max_step.",
    )
    min_factor: float = Field(
        default=0.2, gt=0, le=1, description="Smallest factor on the profile (default 0.2)."
    )
    max_factor: float = Field(
        default=8.0, ge=1, description="Largest factor on the profile (default 8)."
    )
    warmup: int = Field(
        default=20,
        ge=0,
        description="Observations of a phase before its drift is judged (default 20).",
    )
    drift_threshold: float = Field(
        default=0.1,
        gt=0,
        description="Mean log error (bias) beyond which the model counts as drifting "
        "(default 0.1, about 10 %).",
    )

    def rule(self) -> calibration.CalibrationSettings:
        """The scheduling core's settings of the update rule."""
        return calibration.CalibrationSettings(
            gain=self.gain,
            max_step=self.max_step,
            min_factor=self.min_factor,
            max_factor=self.max_factor,
            warmup=self.warmup,
            drift_threshold=self.drift_threshold,
        )


class SchedulingSettings(BaseModel):
    """How the gateway drives the scheduling core."""

    policy: Literal["fcfs", "deadline", "scorpio"] = Field(
        default="scorpio", description="Scheduling policy of every model (default scorpio)."
    )
    recheck_interval_s: float = Field(
        default=0.02,
        gt=0,
        description="Seconds between re-checks of waiting requests when nothing else happens "
        "(default 0.02).",
    )
    engine_metrics_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between scrapes of each engine's /metrics (default 1).",
    )
    default_max_tokens: int = Field(
        default=4096,
        ge=1,
        description="Output budget assumed for requests that set no max_tokens (default 4096).",
    )
    failure_cooldown_s: float = Field(
        default=5.0,
        ge=0,
        description="Seconds an engine that failed a request stays out of routing, at least until "
        "its metrics answer again (default 5).",
    )
    cold_start_s: float = Field(
        default=0.0,
        ge=0,
        description="Expected start time of an engine, in seconds, while a ModelService's own "
        "is unmeasured (status.autoscaling.startSeconds replaces it): a request that finds no "
        "engine waits for one (it counts as demand, which wakes the autoscaler) until its "
        "class's TTFT deadline, and is refused at once with 503 cold_start when the start would "
        "miss that deadline; a request the TTFT guard refuses waits for an engine that is "
        "starting when that engine can serve it in time (default 0: without a measured start, no "
        "waiting, 503 no_engines at once, no starting engine counted).",
    )
    chars_per_token: float = Field(
        default=4.0,
        gt=0,
        description="Characters per prompt token, for estimating prompt length when the model "
        "names no tokenizer (default 4).",
    )
    model_cache_dir: str | None = Field(
        default=None,
        description="Where the gateway sees the model cache, for ModelServices whose "
        "tokenizer.path names a directory in it (default: not mounted; such models' prompts "
        "are estimated).",
    )
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    prefix_aware: bool = Field(
        default=False,
        description="Keep an index of which engine probably holds which prompt blocks in its "
        "prefix cache, learnt from routing, and predict and route on the prefill a prompt "
        "leaves there (docs/scheduling.md); off by default.",
    )
    prefix_block_tokens: int = Field(
        default=64,
        ge=1,
        description="Tokens per prompt block of the prefix index (default 64).",
    )
    prefix_cache_tokens: int = Field(
        default=400_000,
        ge=1,
        description="Tokens an engine's prefix cache is taken to hold, for ageing the index "
        "(default 400000, about an 8B model's KV cache on an 80 GB GPU).",
    )
    admission: Literal["at-arrival", "hold-then-reject"] = Field(
        default="at-arrival",
        description="How the TTFT guard treats engines whose max_num_seqs slots are all taken: "
        "at-arrival (default) counts the wait for a slot to free and rejects at once what "
        "cannot start in time; hold-then-reject admits such requests and rejects them only "
        "once their slack runs out in the queue (the gateway's behaviour before, kept for "
        "comparison). Only policies with the TTFT guard (scorpio) read it.",
    )
    max_queue: int | None = Field(
        default=None,
        ge=1,
        description="Most requests of one model waiting at the gateway; more are refused with "
        "429 queue_full (default: no limit).",
    )
    max_queue_per_class: dict[str, int] = Field(
        default_factory=dict,
        description="Most requests of one class of a model waiting at the gateway, by class "
        "name, e.g. {batch: 500}; a class not named has no limit of its own (default none).",
    )
    routing: dict[str, Any] | None = Field(
        default=None,
        description="The routing profile: filters, weighted scorers and a picker by plugin type "
        "(docs/scheduling.md); default: the policy's own.",
    )

    @field_validator("max_queue_per_class")
    @classmethod
    def _class_limits_positive(cls, limits: dict[str, int]) -> dict[str, int]:
        for name, limit in limits.items():
            if limit < 1:
                raise ValueError(f"max_queue_per_class[{name!r}] must be at least 1, got {limit}")
        return limits

    @field_validator("routing")
    @classmethod
    def _routing_profile_reads(cls, raw: dict[str, Any] | None) -> dict[str, Any] | None:
        if raw is not None:
            plugins.RoutingSpec.from_mapping(raw)
        return raw

    def routing_spec(self) -> plugins.RoutingSpec | None:
        """The configured routing profile, None for the policy's own."""
        return None if self.routing is None else plugins.RoutingSpec.from_mapping(self.routing)


class ShutdownSettings(BaseModel):
    """Graceful shutdown."""

    grace_period_s: float = Field(
        default=30.0,
        ge=0,
        description="Seconds in-flight requests may take to finish after shutdown begins "
        "(default 30); new requests get 503 meanwhile.",
    )


class GatewaySettings(BaseSettings):
    """All of the gateway's settings."""

    model_config = SettingsConfigDict(
        env_prefix="SLOSERVE_GATEWAY__", env_nested_delimiter="__", extra="forbid"
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    sources: SourceSettings = Field(default_factory=SourceSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    scheduling: SchedulingSettings = Field(default_factory=SchedulingSettings)
    shutdown: ShutdownSettings = Field(default_factory=ShutdownSettings)

    @model_validator(mode="after")
    def _needs_a_source_of_models(self) -> GatewaySettings:
        if self.sources.config_file is None and not self.sources.kubernetes:
            raise ValueError(
                "no source of models: set sources.config_file (--config, or the environment "
                "variable SLOSERVE_GATEWAY__SOURCES__CONFIG_FILE) or turn on Kubernetes discovery "
                "(--kubernetes)"
            )
        return self
