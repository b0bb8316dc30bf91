"""Checks of the gateway's configuration before it starts serving, each failing with one line.

The lifespan would find the same problems, but a failure there reaches the operator as a
traceback of the server's start-up. `check` reads the static models file (fields, profiles),
the tenants file (against the classes of the static models) and the routing profile (by
building one scheduler with it), and raises ValueError with a message that names the file or
setting and the field.
"""

from __future__ import annotations

from sloserve.engine import synthetic_profile
from sloserve.gateway import runtimes, settings, static_config, tenants
from sloserve.scheduling import clock, latency_fit, scheduler


def check(config: settings.GatewaySettings) -> None:
    """Raise ValueError naming the first problem of `config`'s files and routing."""
    known_classes: frozenset[str] | None = None
    if config.sources.config_file is not None:
        models = static_config.load_static_config(config.sources.config_file)
        if not config.sources.kubernetes:
            known_classes = frozenset(
                slo_class.name for entry in models.models for slo_class in entry.slo_classes
            )
    if config.sources.tenants_file is not None and config.sources.tenants_file.exists():
        tenants.load_tenants_file(config.sources.tenants_file, known_classes=known_classes)
    _check_routing(config.scheduling)


def _check_routing(config: settings.SchedulingSettings) -> None:
    policy_config = runtimes.gateway_policy(config)
    latency = latency_fit.fit_latency_model(synthetic_profile.build()).model
    try:
        scheduler.Scheduler(
            model="startup-check",
            policy_config=policy_config,
            clock_source=clock.ManualClock(0.0),
            latency=latency if policy_config.predicts else None,
            routing_plugins=runtimes.routing_plugin_factories(),
        )
    except ValueError as error:
        raise ValueError(f"scheduling.routing: {error}") from error
