"""The gateway's settings, grouped by concern.

Every field can be set from the environment with the prefix `SLOSERVE_GATEWAY__` and `__` between
the group and the field, e.g. `SLOSERVE_GATEWAY__SERVER__PORT=8080` or
`SLOSERVE_GATEWAY__SOURCES__TENANTS_FILE=/etc/sloserve/tenants/tenants.yaml`. The CLI's options
override the environment. Nothing here is read at import time: `GatewaySettings()` reads the
environment when it is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseModel):
    """Where the gateway listens."""

    host: str = Field(default="0.0.0.0", description="Address to bind (default 0.0.0.0).")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port (default 8080).")
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
    chars_per_token: float = Field(
        default=4.0,
        gt=0,
        description="Characters per prompt token, for estimating prompt length without a "
        "tokenizer (default 4).",
    )


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
