"""The endpoint picker's settings, grouped by concern.

Every field can be set from the environment with the prefix `SLOSERVE_EPP__` and `__` between the
group and the field, e.g. `SLOSERVE_EPP__SERVER__PORT=9002` or
`SLOSERVE_EPP__SOURCES__POOLS='["llama-8b"]'` (lists are JSON). The CLI's options override the
environment. Scheduling is configured exactly as the gateway's (`SLOSERVE_EPP__SCHEDULING__…`,
the same fields), so that both decide alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sloserve.gateway import settings as gateway_settings


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Group):
    """Where the picker listens."""

    host: str = Field(default="0.0.0.0", description="Address to bind (default 0.0.0.0).")
    port: int = Field(
        default=9002,
        ge=0,
        le=65535,
        description="gRPC port of the ext_proc and health services (default 9002, the inference "
        "extension's).",
    )
    metrics_port: int = Field(
        default=9090,
        ge=0,
        le=65535,
        description="HTTP port of /metrics, /healthz and /readyz (default 9090).",
    )
    secure_serving: bool = Field(
        default=True,
        description="Serve gRPC over TLS, as the inference extension's picker does and its "
        "gateways expect (default on). Off: plaintext HTTP/2.",
    )
    cert_file: Path | None = Field(
        default=None,
        description="TLS certificate (PEM); unset: a self-signed one made at start-up.",
    )
    key_file: Path | None = Field(default=None, description="Private key of `cert_file` (PEM).")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> ServerSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError(
                "server.cert_file and server.key_file go together: set both (--tls-cert-file, "
                "--tls-key-file) or neither for a self-signed certificate"
            )
        return self


class SourceSettings(_Group):
    """Where models, endpoints and tenants come from."""

    config_file: Path | None = Field(
        default=None,
        description="Static models file (YAML or JSON, the gateway's format): classes and "
        "engine URLs, for local use.",
    )
    tenants_file: Path | None = Field(
        default=None,
        description="Tenants file (YAML or JSON, the gateway's format); reloaded on change.",
    )
    tenants_reload_interval_s: float = Field(
        default=2.0, gt=0, description="Seconds between checks of the tenants file (default 2)."
    )
    kubernetes: bool = Field(
        default=False,
        description="Discover ModelServices, their InferencePools and the pools' pods from "
        "Kubernetes (default off).",
    )
    namespace: str | None = Field(
        default=None,
        description="Namespace to watch; unset watches every namespace the picker may read.",
    )
    pools: tuple[str, ...] = Field(
        default=(),
        description="InferencePools to serve, by name; empty serves every pool that names a "
        "ModelService (label sloserve.io/modelservice).",
    )


class ProtocolSettings(_Group):
    """How the proxy talks to the picker."""

    request_body_mode: Literal["full_duplex_streamed", "buffered"] = Field(
        default="full_duplex_streamed",
        description="The ext_proc filter's request_body_mode, for proxies that do not announce "
        "it on the stream (default full_duplex_streamed, the inference extension's).",
    )
    response_body_mode: Literal["full_duplex_streamed", "buffered", "none"] = Field(
        default="full_duplex_streamed",
        description="The ext_proc filter's response_body_mode (default full_duplex_streamed); "
        "TTFT and TPOT are measured only when the body streams through the picker.",
    )
    max_request_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest request body the picker reads (default 16 MiB); larger get 413.",
    )
    trust_fairness_id: bool = Field(
        default=False,
        description="Take the tenant from x-gateway-inference-fairness-id (a tenant name) when "
        "the proxy sets it, for proxies that authenticate callers themselves; off: from the "
        "API key, as the gateway does (default off).",
    )


class EppSettings(BaseSettings):
    """All of the endpoint picker's settings."""

    model_config = SettingsConfigDict(
        env_prefix="SLOSERVE_EPP__", env_nested_delimiter="__", extra="forbid"
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    sources: SourceSettings = Field(default_factory=SourceSettings)
    protocol: ProtocolSettings = Field(default_factory=ProtocolSettings)
    scheduling: gateway_settings.SchedulingSettings = Field(
        default_factory=gateway_settings.SchedulingSettings
    )
    shutdown: gateway_settings.ShutdownSettings = Field(
        default_factory=gateway_settings.ShutdownSettings
    )

    @model_validator(mode="after")
    def _needs_a_source_of_models(self) -> EppSettings:
        if self.sources.config_file is None and not self.sources.kubernetes:
            raise ValueError(
                "no source of models: set sources.config_file (--config, or the environment "
                "variable SLOSERVE_EPP__SOURCES__CONFIG_FILE) or turn on Kubernetes discovery "
                "(--kubernetes)"
            )
        return self
