"""The operator's settings, grouped by concern.

Every field can be set from the environment with the prefix `SLOSERVE_OPERATOR__` and `__` between
the group and the field, e.g. `SLOSERVE_OPERATOR__STATUS__REFRESH_INTERVAL_S=2` or
`SLOSERVE_OPERATOR__KUBERNETES__NAMESPACES='["team-a","team-b"]'` (lists and other structured
values are JSON). The CLI's options override the environment. Nothing here is read at import time:
`OperatorSettings()` reads the environment when it is built.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sloserve.api.durations import DurationError, parse_duration

__all__ = [
    "DEFAULT_SERVICE_ACCOUNT_DIR",
    "EngineSettings",
    "HealthSettings",
    "InferencePoolSettings",
    "KubernetesSettings",
    "LeaderElectionSettings",
    "LoggingSettings",
    "OperatorSettings",
    "PlacementSettings",
    "RetrySettings",
    "SLOSettings",
    "StatusSettings",
]

#: Where Kubernetes mounts a pod's ServiceAccount token, CA certificate and namespace.
DEFAULT_SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def _default_sim_image() -> str:
    try:
        version = metadata.version("sloserve")
    except metadata.PackageNotFoundError:
        version = "latest"
    return f"ghcr.io/sloserve/sloserve:{version}"


class _Group(BaseModel):
    """A group of settings; a misspelt field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class KubernetesSettings(_Group):
    """How the operator reaches the API server, and what it watches."""

    kubeconfig: Path | None = Field(
        default=None,
        description="Kubeconfig file to log in with. Unset: the pod's ServiceAccount when running "
        "in a cluster, else $KUBECONFIG or ~/.kube/config.",
    )
    context: str | None = Field(
        default=None, description="Kubeconfig context to use (default: its current context)."
    )
    service_account_dir: Path = Field(
        default=DEFAULT_SERVICE_ACCOUNT_DIR,
        description="Directory holding the ServiceAccount's `token`, `ca.crt` and `namespace` "
        "for in-cluster login (default /var/run/secrets/kubernetes.io/serviceaccount).",
    )
    namespaces: tuple[str, ...] = Field(
        default=(),
        description="Namespaces whose ModelServices to serve; empty serves all (default).",
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds one API request may take (default 30)."
    )
    api_workers: int = Field(
        default=8,
        ge=1,
        le=256,
        description="API requests the operator makes at once for reconciles (default 8); each "
        "worker holds a connection of its own.",
    )
    field_manager: str = Field(
        default="sloserve-operator",
        min_length=1,
        max_length=128,
        description="Server-side apply field manager of the objects the operator owns "
        "(default sloserve-operator).",
    )


class EngineSettings(_Group):
    """Choices about engine pods that a ModelService's spec does not make."""

    sim_image: str = Field(
        default_factory=_default_sim_image,
        min_length=1,
        description="Image of `sim` engines whose spec names none (default the sloserve image "
        "of this version, ghcr.io/sloserve/sloserve:<version>).",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None,
        description="imagePullPolicy of engine containers; unset keeps Kubernetes' default.",
    )
    drain_seconds: int = Field(
        default=120,
        ge=0,
        le=86400,
        description="Seconds a terminating engine may take to finish its in-flight requests, "
        "for ModelServices whose spec.drainSeconds is unset (default 120; 0 stops at once).",
    )
    drain_delay_s: int = Field(
        default=5,
        ge=0,
        description="Least seconds a terminating engine keeps serving, even when idle, so "
        "the gateway sees it leave first (default 5).",
    )
    shutdown_grace_s: int = Field(
        default=30,
        ge=1,
        description="Seconds an engine gets after SIGTERM to exit before it is killed; the "
        "pods' terminationGracePeriodSeconds is the drain time plus this (default 30).",
    )
    max_surge: int | str = Field(
        default=1,
        description="Extra engine pods a rollout may start, a count or a percentage (default 1).",
    )
    max_unavailable: int | str = Field(
        default=0,
        description="Engine pods a rollout may stop before their replacements are ready, a "
        "count or a percentage (default 0).",
    )
    progress_deadline_s: int = Field(
        default=600,
        ge=1,
        description="Seconds a rollout may make no progress before it is reported stuck "
        "(default 600).",
    )
    startup_timeout_s: int = Field(
        default=1800,
        ge=5,
        description="Seconds an engine may take to answer /health the first time, loading "
        "weights, before it is restarted (default 1800).",
    )
    disruption_max_unavailable: int | str = Field(
        default=1,
        description="Engine pods a node drain may evict at once, a count or a percentage "
        "(PodDisruptionBudget maxUnavailable; default 1).",
    )
    interference_aware_scheduler: str = Field(
        default="sloserve-scheduler",
        min_length=1,
        description="schedulerName of engine pods with interference-aware placement that name "
        "no scheduler (default sloserve-scheduler).",
    )
    listen_host: str = Field(
        default="0.0.0.0",
        min_length=1,
        description="Address engines bind (their --host): 0.0.0.0 (default) in a real cluster; "
        "$(POD_IP) for the pod's own IP where pods share the host's network "
        "(hostNetwork), which also gives engines the env var POD_IP from status.podIP.",
    )


class PlacementSettings(_Group):
    """Interference-aware placement of engine pods."""

    scheduler_deployed: bool = Field(
        default=True,
        description="Whether the sloserve scheduler profile runs in the cluster (default true). "
        "When false, interference-aware engines keep the default scheduler and get preferred "
        "node affinity from predicted slowdowns, computed when they are created or scaled.",
    )
    enabled: bool = Field(
        default=True,
        description="Annotate engine pods for interference-aware placement and record "
        "predicted slowdowns in status (default true); the interference predictor is loaded "
        "at the first prediction.",
    )


class StatusSettings(_Group):
    """How often the status is brought up to date."""

    refresh_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between recomputations of each ModelService's status from the "
        "watched Deployments, pods and nodes (default 10): how long a change of the engines may "
        "take to show. Unchanged statuses cost no request.",
    )


class AutoscalingSettings(_Group):
    """The autoscaler of ModelServices that set `spec.autoscaling`."""

    interval_s: float = Field(
        default=15.0,
        gt=0,
        description="Seconds between two decisions for each autoscaled ModelService (default "
        "15, as the horizontal pod autoscaler); each reads the latest SLO figures, so they also "
        "need `slo` set.",
    )


class SLOSettings(_Group):
    """Per-class SLO figures in each ModelService's `status.slo`, computed by `sloserve.report`
    from a Prometheus server or by scraping the gateways directly. With neither source set
    (default) the operator writes no figures."""

    prometheus_url: str | None = Field(
        default=None,
        min_length=1,
        description="Base URL of a Prometheus server that scrapes the gateways, like "
        "http://prometheus:9090 (default none).",
    )
    gateway_urls: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Gateways to scrape directly when no Prometheus is set, comma-separated "
        "(default none): one URL per replica, or dns+http://NAME:PORT for every address NAME "
        "resolves to (a headless Service). A direct scrape takes the whole window, so figures "
        "change once per window.",
    )
    window: str = Field(
        default="5m", description="Window the figures cover, a duration like 5m (default 5m)."
    )
    interval: str = Field(
        default="30s",
        description="Seconds between collections from Prometheus, or between scrapes of the "
        "gateways, a duration like 30s (default 30s).",
    )
    cluster: str | None = Field(
        default=None,
        min_length=1,
        description="The `cluster` label of this cluster's series, where one Prometheus holds "
        "several clusters (default: series of any cluster).",
    )
    request_timeout_s: float = Field(
        default=10.0, gt=0, description="Seconds one query or scrape may take (default 10)."
    )

    @field_validator("gateway_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(url.strip() for url in value.split(",") if url.strip())
        return value

    @field_validator("window", "interval")
    @classmethod
    def _is_duration(cls, value: str) -> str:
        try:
            parse_duration(value)
        except DurationError as error:
            raise ValueError(str(error)) from error
        return value

    @property
    def enabled(self) -> bool:
        """Whether a source is set."""
        return self.prometheus_url is not None or bool(self.gateway_urls)

    @property
    def window_s(self) -> float:
        return parse_duration(self.window)

    @property
    def interval_s(self) -> float:
        return parse_duration(self.interval)


class RetrySettings(_Group):
    """Backoff of failed reconciles: the delay doubles from `initial_backoff_s` up to
    `max_backoff_s`, each delay varied by up to ±`jitter` of itself."""

    initial_backoff_s: float = Field(
        default=1.0, gt=0, description="Delay before the first retry, in seconds (default 1)."
    )
    max_backoff_s: float = Field(
        default=120.0, gt=0, description="Longest delay between retries, in seconds (default 120)."
    )
    jitter: float = Field(
        default=0.2,
        ge=0,
        lt=1,
        description="Relative random variation of each delay, so that many failed objects do "
        "not retry in lockstep (default 0.2).",
    )


class LeaderElectionSettings(_Group):
    """Lease-based leader election: of all operator replicas, only the Lease holder acts."""

    enabled: bool = Field(
        default=True,
        description="Elect a leader through a coordination.k8s.io Lease (default on). Turn it "
        "off only when exactly one replica can ever run.",
    )
    lease_name: str = Field(
        default="sloserve-operator", min_length=1, description="Name of the Lease."
    )
    lease_namespace: str | None = Field(
        default=None,
        description="Namespace of the Lease (default: the pod's namespace in a cluster, else "
        "`default`).",
    )
    lease_duration_s: float = Field(
        default=15.0,
        gt=0,
        description="Seconds a standby waits, after the Lease last changed, before it takes the "
        "Lease over (default 15).",
    )
    renew_deadline_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds the leader keeps acting without managing to renew the Lease; past "
        "them it exits (default 10). Must be below lease_duration_s.",
    )
    retry_period_s: float = Field(
        default=2.0,
        gt=0,
        description="Seconds between attempts to acquire or renew the Lease (default 2). Must "
        "be below renew_deadline_s.",
    )
    identity: str | None = Field(
        default=None,
        description="This replica's name in the Lease (default: host name and a random suffix).",
    )

    @model_validator(mode="after")
    def _deadlines_nest(self) -> LeaderElectionSettings:
        if not self.retry_period_s < self.renew_deadline_s < self.lease_duration_s:
            raise ValueError(
                "leader election needs retry_period_s < renew_deadline_s < lease_duration_s, "
                f"got {self.retry_period_s} / {self.renew_deadline_s} / {self.lease_duration_s}: "
                "the leader must give up acting before a standby may take the Lease"
            )
        return self


class HealthSettings(_Group):
    """The health endpoint for the pod's liveness probe."""

    host: str = Field(default="0.0.0.0", description="Address to bind (default 0.0.0.0).")
    port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of GET /healthz; unset serves none (default).",
    )


class InferencePoolSettings(_Group):
    """An InferencePool per ModelService, for gateways that implement the Gateway API inference
    extension, naming sloserve's endpoint picker (`sloserve epp`); created only where the
    cluster serves `inference.networking.k8s.io/v1`."""

    enabled: bool = Field(
        default=False, description="Create an InferencePool for each ModelService (default off)."
    )
    endpoint_picker_service: str = Field(
        default="sloserve-epp",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$",
        description="The endpoint picker's Service, in each ModelService's namespace (default "
        "sloserve-epp).",
    )
    endpoint_picker_port: int = Field(
        default=9002, ge=1, le=65535, description="That Service's gRPC port (default 9002)."
    )
    failure_mode: Literal["FailOpen", "FailClose"] = Field(
        default="FailClose",
        description="What the gateway does when the picker does not answer: FailClose refuses "
        "the request, FailOpen sends it to an endpoint of its own choosing (default FailClose).",
    )
    api_recheck_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds an answer on whether the cluster serves InferencePools is trusted "
        "(default 60): a CRD installed later is noticed within this.",
    )


class FineTuneSettings(_Group):
    """The FineTuneJob controller: LoRA fine-tuning beside inference, throttled by the inference
    classes' SLO headroom."""

    enabled: bool = Field(
        default=False,
        description="Run the FineTuneJob controller (default off: it needs the FineTuneJob CRD "
        "and rights to create pods).",
    )
    control_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between two throttle decisions of a job (default 5).",
    )
    held_retry_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds before a job held for something missing (its ModelService, its "
        "dataset, a node with headroom) is reconciled again (default 30).",
    )
    worker_image: str | None = Field(
        default=None,
        min_length=1,
        description="Image of the worker pods of jobs whose spec names none (default the "
        "engines' sim image, which is the sloserve image).",
    )
    worker_resources: dict[str, dict[str, str | float]] | None = Field(
        default=None,
        description="CPU and memory of the worker container as `{requests: {...}, limits: "
        "{...}}` (JSON in the environment); default requests of 250m CPU and 512Mi.",
    )
    hold_s: float = Field(
        default=15.0,
        ge=0,
        description="Seconds after a cut before the throttle ramps a job up again (default 15).",
    )
    ramp_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between two ramp-up steps of a job's share (default 5).",
    )
    ramp: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Share added at each ramp-up step (default 0.05).",
    )
    evict_after_s: float = Field(
        default=120.0,
        gt=0,
        description="Seconds a job stays paused by low headroom before its worker is evicted "
        "to its checkpoint (default 120).",
    )


class LoggingSettings(_Group):
    """What the operator logs."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Level of the operator's own log lines (default INFO)."
    )
    kopf_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING",
        description="Level of the kopf framework's log lines (default WARNING: its per-handler "
        "lines would repeat every action).",
    )


class OperatorSettings(BaseSettings):
    """All of the operator's settings."""

    model_config = SettingsConfigDict(
        env_prefix="SLOSERVE_OPERATOR__", env_nested_delimiter="__", extra="forbid"
    )

    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    engines: EngineSettings = Field(default_factory=EngineSettings)
    status: StatusSettings = Field(default_factory=StatusSettings)
    placement: PlacementSettings = Field(default_factory=PlacementSettings)
    slo: SLOSettings = Field(default_factory=SLOSettings)
    autoscaling: AutoscalingSettings = Field(default_factory=AutoscalingSettings)
    retries: RetrySettings = Field(default_factory=RetrySettings)
    leader_election: LeaderElectionSettings = Field(default_factory=LeaderElectionSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    inference_pools: InferencePoolSettings = Field(default_factory=InferencePoolSettings)
    finetune: FineTuneSettings = Field(default_factory=FineTuneSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @model_validator(mode="after")
    def _backoff_bounds(self) -> OperatorSettings:
        if self.retries.max_backoff_s < self.retries.initial_backoff_s:
            raise ValueError(
                f"retries.max_backoff_s ({self.retries.max_backoff_s}) is below "
                f"retries.initial_backoff_s ({self.retries.initial_backoff_s}); raise the maximum"
            )
        return self
