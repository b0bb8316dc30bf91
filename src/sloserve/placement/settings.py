"""Settings of the placement extender, from the command line or `SLOSERVE_PLACEMENT__*`
environment variables."""

from __future__ import annotations

import pathlib

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ExtenderSettings"]


class ExtenderSettings(BaseSettings):
    """How the extender listens, what it loads and where it reads node telemetry."""

    model_config = SettingsConfigDict(env_prefix="SLOSERVE_PLACEMENT__", frozen=True)

    host: str = "127.0.0.1"
    """Address to listen on (`0.0.0.0` in a pod)."""

    port: int = Field(default=8788, ge=1, le=65535)
    """Port to listen on; the scheduler configuration's `urlPrefix` must match."""

    model: pathlib.Path | None = None
    """ONNX model; default: the packaged one."""

    catalogue: pathlib.Path | None = None
    """Solo series per workload kind; default: the packaged one."""

    prometheus_url: str | None = None
    """Prometheus holding DCGM exporter series (e.g. `http://prometheus:9090`); unset: every
    workload's series comes from the catalogue, by its kind."""

    prometheus_window_s: float = Field(default=120.0, gt=0)
    """Seconds of a running pod's DCGM history read from Prometheus."""

    prometheus_step_s: float = Field(default=5.0, gt=0)
    """Resolution of that history, in seconds."""

    default_max_slowdown: float | None = Field(default=None, ge=1.0)
    """Limit for pods without the max-predicted-slowdown annotation; unset: such pods are
    filtered only by the limits the workloads already on a node declare."""

    kubeconfig: pathlib.Path | None = None
    """Kubeconfig for listing pods; unset: the in-cluster service account, else the default
    kubeconfig."""
