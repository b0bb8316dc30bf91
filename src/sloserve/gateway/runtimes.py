"""The per-model runtimes, kept in step with the datastore.

A model appears when a source defines it and disappears when no source does; its runtime is built
then (with the latency model of its profile) and stopped after. A model whose profile cannot be
loaded is listed as unavailable with the reason, and its requests get 503 saying so.

A profile's latency model is fitted once and shared by the models that use it; it is dropped when
the last of them goes, so a gateway whose models come and go for days holds only the fits of
today's profiles (and a profile file edited in between is read again).

A model whose definition names a tokenizer gets it loaded off the event loop
(`tokenizer_source`), once per runtime and again when the definition names another; until then,
or when it cannot be loaded (logged, and shown on `/debug/engines`), its prompts are estimated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import logging
from collections.abc import Callable

import httpx

from sloserve.engine import profiles
from sloserve.gateway import (
    datastore,
    metrics,
    model_tokenizer,
    runtime,
    settings,
    tasks,
    tokenizer_source,
)
from sloserve.scheduling import latency_fit, latency_model, policy
from sloserve.scheduling.routing import plugins

# Entry points of this group add routing plugin types: name = "package.module:factory".
ROUTING_PLUGINS_GROUP = "sloserve.routing_plugins"

log = logging.getLogger(__name__)


def fit_profile(profile: str) -> latency_model.LatencyModel:
    """The latency model of a profile, resolved as engines resolve theirs (a shipped name, a
    file path, or `synthetic`), so that predictions and engines agree. Raises LookupError or
    ValueError."""
    return latency_fit.fit_latency_model(profiles.resolve(profile)).model


class Runtimes:
    """Model id → its runtime. Subscribe `on_record` to the datastore."""

    def __init__(
        self,
        *,
        config: settings.SchedulingSettings,
        client: httpx.AsyncClient,
        clock: runtime.MonotonicClock,
        gateway_metrics: metrics.GatewayMetrics,
        fit: Callable[[str], latency_model.LatencyModel] = fit_profile,
        read_config_map: tokenizer_source.ReadConfigMap | None = None,
    ) -> None:
        self._config = config
        self._read_config_map = read_config_map
        self._fit = fit
        self._fitted: dict[str, latency_model.LatencyModel] = {}
        self._client = client
        self._clock = clock
        self._metrics = gateway_metrics
        self._policy = gateway_policy(config)
        self._routing_plugins = routing_plugin_factories()
        self._runtimes: dict[str, runtime.ModelRuntime] = {}
        self.unavailable: dict[str, str] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._loading: set[asyncio.Task[None]] = set()

    def get(self, model: str) -> runtime.ModelRuntime | None:
        return self._runtimes.get(model)

    def all(self) -> list[runtime.ModelRuntime]:
        return list(self._runtimes.values())

    def on_record(self, model: str, record: datastore.ModelRecord | None) -> None:
        self._apply(model, record)
        self._forget_unused_fits()

    def _apply(self, model: str, record: datastore.ModelRecord | None) -> None:
        current = self._runtimes.get(model)
        if record is None:
            self.unavailable.pop(model, None)
            if current is not None:
                self._retire(current)
            return
        definition = record.definition
        if current is not None and current.record.definition.latency_key == definition.latency_key:
            previous_tokenizer = current.record.definition.tokenizer
            current.update(record)
            if definition.tokenizer != previous_tokenizer:
                self._load_tokenizer(current)
            self._publish_targets(record)
            return
        try:
            latency = self._latency_of(definition) if self._policy.predicts else None
        except (LookupError, ValueError) as error:
            self.unavailable[model] = f"model {model!r} cannot be scheduled: {error}"
            log.error("%s", self.unavailable[model])
            if current is not None:
                self._retire(current)
            return
        if current is not None:
            self._retire(current)
        self.unavailable.pop(model, None)
        fresh = runtime.ModelRuntime(
            record=record,
            policy_config=self._policy,
            latency=latency,
            clock=self._clock,
            client=self._client,
            recheck_interval_s=self._config.recheck_interval_s,
            scrape_interval_s=self._config.engine_metrics_interval_s,
            failure_cooldown_s=self._config.failure_cooldown_s,
            routing_plugins=self._routing_plugins,
            prefix_capacity_tokens=(
                self._config.prefix_cache_tokens if self._config.prefix_aware else None
            ),
            calibrate=self._config.calibration.enabled,
            calibration_settings=self._config.calibration.rule(),
            default_start_time_s=self._config.cold_start_s,
        )
        if definition.profile_rule == "none" and not self._config.calibration.enabled:
            log.warning(
                "model %r: no profile fits it, and online calibration is off: it is predicted "
                "from the conservative prior %r as it is",
                model,
                definition.profile,
            )
        fresh.start()
        self._load_tokenizer(fresh)
        self._runtimes[model] = fresh
        self._publish_targets(record)

    def _load_tokenizer(self, model_runtime: runtime.ModelRuntime) -> None:
        """Load the tokenizer the runtime's definition names, off the event loop; prompts are
        estimated meanwhile."""
        ref = model_runtime.record.definition.tokenizer
        model_runtime.tokenizer = None
        if ref is None:
            model_runtime.tokenizer_status = "none named: prompt tokens are estimated"
            return
        if ref.directory is not None:
            # the static file's own directory, read (and checked) already at start-up: loaded
            # here, so that the first request is counted with it
            self._settle_tokenizer(model_runtime, ref, self._load_blocking(ref))
            return
        model_runtime.tokenizer_status = f"loading from {ref.field()}"
        task = tasks.start(self._loaded(model_runtime, ref), name=f"tokenizer {ref.owner}")
        self._loading.add(task)
        task.add_done_callback(self._loading.discard)

    def _load_blocking(
        self, ref: tokenizer_source.TokenizerRef
    ) -> model_tokenizer.ModelTokenizer | tokenizer_source.TokenizerSourceError:
        try:
            return tokenizer_source.load(
                ref,
                model_cache_dir=self._config.model_cache_dir,
                read_config_map=self._read_config_map,
            )
        except tokenizer_source.TokenizerSourceError as error:
            return error

    async def _loaded(
        self, model_runtime: runtime.ModelRuntime, ref: tokenizer_source.TokenizerRef
    ) -> None:
        self._settle_tokenizer(
            model_runtime, ref, await asyncio.to_thread(self._load_blocking, ref)
        )

    @staticmethod
    def _settle_tokenizer(
        model_runtime: runtime.ModelRuntime,
        ref: tokenizer_source.TokenizerRef,
        loaded: model_tokenizer.ModelTokenizer | tokenizer_source.TokenizerSourceError,
    ) -> None:
        if model_runtime.record.definition.tokenizer != ref:
            return  # the definition names another one since
        if isinstance(loaded, tokenizer_source.TokenizerSourceError):
            model_runtime.tokenizer_status = f"failed, prompt tokens are estimated: {loaded}"
            log.error("%s; its prompt tokens are estimated", loaded)
            return
        model_runtime.tokenizer = loaded
        model_runtime.tokenizer_status = f"loaded from {loaded.source}"
        log.info("%s: prompt tokens counted with the tokenizer from %s", ref.owner, loaded.source)

    async def tokenizers_loaded(self) -> None:
        """Wait until every tokenizer being loaded has loaded or failed."""
        await asyncio.gather(*self._loading, return_exceptions=True)

    def readiness_problems(self) -> list[str]:
        """Why each model that cannot take traffic cannot (profile, engines), in model order."""
        problems = dict(self.unavailable)
        for model, model_runtime in self._runtimes.items():
            problem = model_runtime.readiness_problem()
            if problem is not None:
                problems[model] = problem
        return [problems[model] for model in sorted(problems)]

    async def stop_all(self) -> None:
        for model_runtime in list(self._runtimes.values()):
            self._retire(model_runtime)
        await asyncio.gather(*self._stopping, return_exceptions=True)

    def _latency_of(self, definition: datastore.ModelDefinition) -> latency_model.LatencyModel:
        profile = definition.profile
        fitted = self._fitted.get(profile)
        if fitted is None:
            fitted = self._fitted[profile] = self._fit(profile)
        if definition.prefill_scale == definition.decode_scale == 1.0:
            return fitted
        return fitted.scaled(prefill=definition.prefill_scale, decode=definition.decode_scale)

    def _forget_unused_fits(self) -> None:
        in_use = {model_runtime.record.definition.profile for model_runtime in self.all()}
        for profile in self._fitted.keys() - in_use:
            del self._fitted[profile]

    def _retire(self, model_runtime: runtime.ModelRuntime) -> None:
        record = model_runtime.record
        if self._runtimes.get(record.model) is model_runtime:
            del self._runtimes[record.model]
        self._metrics.forget_model(
            record.labels,
            classes=list(record.definition.classes.classes),
            engines=list(model_runtime.ledgers),
        )
        task = tasks.start(model_runtime.stop(), name=f"stop {record.model}")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def _publish_targets(self, record: datastore.ModelRecord) -> None:
        for slo_class in record.definition.classes.classes.values():
            self._metrics.publish_targets(
                record.labels,
                slo_class=slo_class.name,
                ttft_s=slo_class.ttft_s,
                tpot_s=slo_class.tpot_s,
            )


def gateway_policy(config: settings.SchedulingSettings) -> policy.PolicyConfig:
    """The policy preset the settings name, with their admission, queue limits and routing."""
    preset = policy.preset(config.policy)
    return dataclasses.replace(
        preset,
        predict_slot_waits=preset.use_ttft_guard and config.admission == "at-arrival",
        max_queue=config.max_queue,
        max_queue_per_class=dict(config.max_queue_per_class),
        routing_spec=config.routing_spec(),
    )


def routing_plugin_factories() -> dict[str, plugins.Factory]:
    """The built-in routing plugin types and those installed packages add through the
    `sloserve.routing_plugins` entry points (a built-in type cannot be replaced)."""
    factories = plugins.default_factories()
    for entry_point in importlib.metadata.entry_points(group=ROUTING_PLUGINS_GROUP):
        if entry_point.name in factories:
            log.error(
                "routing plugin %r from %s ignored: a built-in type has that name",
                entry_point.name,
                entry_point.value,
            )
            continue
        factories[entry_point.name] = entry_point.load()
    return factories
