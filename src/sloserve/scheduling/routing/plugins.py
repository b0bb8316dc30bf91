"""Routing plugins by type name, and profiles built from a configuration.

A configuration names plugins by type, in the shape the gateway's settings take (YAML or JSON)::

    filters: [{type: prefill-meter}, {type: room}, {type: tpot-guard}, {type: ttft-guard}]
    scorers:
      - {type: predicted-completion, weight: 1}
      - {type: session-affinity, weight: 0.5, parameters: {maxSessions: 50000}}
    picker: {type: highest-score}

Each type has a factory that builds the plugin from its `parameters` and the scheduler's
`PluginContext` (its latency model, guard settings and prefill meter). `default_factories()`
returns a fresh table of the built-in types; a caller adds its own types to that table and
passes it to `build_profile` — there is no global registry to mutate.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sloserve.scheduling import latency_model, prefill_meter, prefix_index, tpot_guard, ttft_guard
from sloserve.scheduling.routing import contract, feasibility, pickers, profile, round_robin
from sloserve.scheduling.routing.filters import prefill_meter as meter_filter
from sloserve.scheduling.routing.filters import prefix_affinity, room
from sloserve.scheduling.routing.filters import tpot_guard as tpot_filter
from sloserve.scheduling.routing.filters import ttft_guard as ttft_filter
from sloserve.scheduling.routing.scorers import (
    cache_aware,
    kv_utilization,
    load,
    predicted_completion,
    prefix_cache,
    queue_depth,
    session_affinity,
)

FILTERS = "filters"
SCORERS = "scorers"
PICKER = "picker"


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginSpec:
    """One plugin of a profile: its type name, its weight (scorers only) and its parameters."""

    type: str
    weight: float = 1.0
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingSpec:
    """A routing profile as configuration."""

    filters: tuple[PluginSpec, ...] = ()
    scorers: tuple[PluginSpec, ...] = ()
    picker: PluginSpec = PluginSpec(type=pickers.HIGHEST_SCORE)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "RoutingSpec":
        """Read the configuration shape above; raises ValueError naming the field at fault."""
        unknown = sorted(set(raw) - {FILTERS, SCORERS, PICKER})
        if unknown:
            raise ValueError(
                f"routing: unknown field(s) {', '.join(unknown)}; the fields are "
                f"{FILTERS}, {SCORERS} and {PICKER}"
            )
        picker = raw.get(PICKER)
        return cls(
            filters=_plugin_list(raw.get(FILTERS, ()), FILTERS, weighted=False),
            scorers=_plugin_list(raw.get(SCORERS, ()), SCORERS, weighted=True),
            picker=(
                PluginSpec(type=pickers.HIGHEST_SCORE)
                if picker is None
                else _plugin(picker, PICKER, weighted=False)
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginContext:
    """What a scheduler lends its routing plugins. `latency` is None under policies that do not
    predict; plugins that need it refuse to be built then."""

    latency: latency_model.LatencyModel | None
    margin_s: float = ttft_guard.DEFAULT_MARGIN_S
    inefficiency: float = tpot_guard.DEFAULT_INEFFICIENCY
    headroom: float = tpot_guard.DEFAULT_HEADROOM
    max_waiting: int | None = None
    meter: prefill_meter.PrefillMeter | None = None
    prefixes: prefix_index.PrefixIndex | None = None


Factory = Callable[[Mapping[str, Any], PluginContext], object]


def default_factories() -> dict[str, Factory]:
    """The built-in plugin types; a fresh table on every call, for the caller to extend."""
    return {
        room.NAME: _room,
        meter_filter.NAME: _prefill_meter,
        tpot_filter.NAME: _tpot_guard,
        ttft_filter.NAME: _ttft_guard,
        predicted_completion.NAME: _predicted_completion,
        load.NAME: _load,
        session_affinity.NAME: _session_affinity,
        prefix_cache.NAME: _prefix_cache,
        prefix_affinity.NAME: _prefix_affinity,
        queue_depth.NAME: _queue,
        kv_utilization.NAME: _kv_utilization,
        cache_aware.NAME: _cache_aware,
        pickers.HIGHEST_SCORE: _highest_score,
        round_robin.NAME: _round_robin,
    }


def preset_spec(
    *,
    predicted_completion_routing: bool,
    hold_when_saturated: bool,
    use_tpot_guard: bool,
    meter_prefill: bool,
) -> RoutingSpec:
    """The profile of a policy preset: SCORPIO's (filters prefill meter, room, TPOT guard, TTFT
    guard; scored by predicted completion) or a plain router's (room when holding; scored by
    load)."""
    if not predicted_completion_routing:
        return RoutingSpec(
            filters=(PluginSpec(type=room.NAME),) if hold_when_saturated else (),
            scorers=(PluginSpec(type=load.NAME),),
        )
    filters = [PluginSpec(type=room.NAME)]
    if meter_prefill:
        filters.insert(0, PluginSpec(type=meter_filter.NAME))
    if use_tpot_guard:
        filters.append(PluginSpec(type=tpot_filter.NAME))
    filters.append(PluginSpec(type=ttft_filter.NAME))
    return RoutingSpec(
        filters=tuple(filters), scorers=(PluginSpec(type=predicted_completion.NAME),)
    )


def build_profile(
    spec: RoutingSpec,
    context: PluginContext,
    *,
    factories: Mapping[str, Factory] | None = None,
    feasible: feasibility.Feasibility | None = None,
) -> profile.RoutingProfile:
    """The profile `spec` describes; raises ValueError naming an unknown type or a plugin of the
    wrong role."""
    table = default_factories() if factories is None else factories
    built_filters = [
        cast(contract.Filter, _build(table, plugin, context, "filter", "filter"))
        for plugin in spec.filters
    ]
    built_scorers = [
        (plugin.weight, cast(contract.Scorer, _build(table, plugin, context, "scorer", "score")))
        for plugin in spec.scorers
    ]
    picker = cast(contract.Picker, _build(table, spec.picker, context, "picker", "pick"))
    plugins: list[object] = [*built_filters, *(scorer for _, scorer in built_scorers), picker]
    return profile.RoutingProfile(
        filters=built_filters,
        scorers=built_scorers,
        picker=picker,
        feasible=feasible,
        observers=[
            cast(contract.DispatchObserver, plugin)
            for plugin in plugins
            if callable(getattr(plugin, "dispatched", None))
        ],
    )


def _build(
    table: Mapping[str, Factory],
    plugin: PluginSpec,
    context: PluginContext,
    role: str,
    method: str,
) -> object:
    factory = table.get(plugin.type)
    if factory is None:
        raise ValueError(
            f"routing {role}: unknown plugin type {plugin.type!r}; known types: "
            f"{', '.join(sorted(table))}"
        )
    built = factory(plugin.parameters, context)
    if not callable(getattr(built, method, None)):
        raise ValueError(
            f"routing {role}: plugin type {plugin.type!r} is not a {role} (it has no {method}() "
            "method)"
        )
    return built


def _plugin_list(raw: object, role: str, *, weighted: bool) -> tuple[PluginSpec, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ValueError(f"routing {role}: must be a list of plugins like [{{type: ...}}]")
    return tuple(
        _plugin(item, f"{role}[{index}]", weighted=weighted) for index, item in enumerate(raw)
    )


def _plugin(raw: object, where: str, *, weighted: bool) -> PluginSpec:
    if not isinstance(raw, Mapping):
        raise ValueError(f"routing {where}: must be a mapping like {{type: ...}}")
    allowed = {"type", "parameters", *(("weight",) if weighted else ())}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(
            f"routing {where}: unknown field(s) {', '.join(map(str, unknown))}; the fields are "
            f"{', '.join(sorted(allowed))}"
        )
    plugin_type = raw.get("type")
    if not isinstance(plugin_type, str) or not plugin_type:
        raise ValueError(f"routing {where}: type must name a plugin type")
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
        raise ValueError(f"routing {where}: weight must be a number at or above zero")
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise ValueError(f"routing {where}: parameters must be a mapping")
    return PluginSpec(type=plugin_type, weight=float(weight), parameters=dict(parameters))


def _parameters(name: str, given: Mapping[str, Any], allowed: Sequence[str]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise ValueError(
            f"routing plugin {name!r}: unknown parameter(s) {', '.join(unknown)}; its "
            f"parameters: {known}"
        )
    return dict(given)


def _latency(name: str, context: PluginContext) -> latency_model.LatencyModel:
    if context.latency is None:
        raise ValueError(
            f"routing plugin {name!r} predicts latencies: use it under a policy that has a "
            "latency model (one that predicts)"
        )
    return context.latency


def _positive_int(name: str, parameter: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"routing plugin {name!r}: {parameter} must be a whole number above 0")
    return value


def _room(parameters: Mapping[str, Any], context: PluginContext) -> object:
    given = _parameters(room.NAME, parameters, ("maxWaiting",))
    max_waiting = context.max_waiting
    if "maxWaiting" in given:
        value = given["maxWaiting"]
        max_waiting = None if value is None else _positive_int(room.NAME, "maxWaiting", value)
    return room.RoomFilter(max_waiting=max_waiting)


def _prefill_meter(parameters: Mapping[str, Any], context: PluginContext) -> object:
    _parameters(meter_filter.NAME, parameters, ())
    if context.meter is None:
        raise ValueError(
            f"routing plugin {meter_filter.NAME!r} needs the scheduler's prefill meter: use it "
            "under a policy with meter_prefill"
        )
    return meter_filter.PrefillMeterFilter(meter=context.meter)


def _tpot_guard(parameters: Mapping[str, Any], context: PluginContext) -> object:
    _parameters(tpot_filter.NAME, parameters, ())
    return tpot_filter.TPOTGuardFilter(
        latency=_latency(tpot_filter.NAME, context),
        inefficiency=context.inefficiency,
        headroom=context.headroom,
    )


def _ttft_guard(parameters: Mapping[str, Any], context: PluginContext) -> object:
    _parameters(ttft_filter.NAME, parameters, ())
    return ttft_filter.TTFTGuardFilter(
        latency=_latency(ttft_filter.NAME, context), margin_s=context.margin_s
    )


def _predicted_completion(parameters: Mapping[str, Any], context: PluginContext) -> object:
    _parameters(predicted_completion.NAME, parameters, ())
    return predicted_completion.PredictedCompletionScorer(
        latency=_latency(predicted_completion.NAME, context), margin_s=context.margin_s
    )


def _load(parameters: Mapping[str, Any], context: PluginContext) -> object:
    _parameters(load.NAME, parameters, ())
    return load.LoadScorer()


def _session_affinity(parameters: Mapping[str, Any], context: PluginContext) -> object:
    given = _parameters(session_affinity.NAME, parameters, ("maxSessions",))
    max_sessions = given.get("maxSessions", session_affinity.DEFAULT_MAX_SESSIONS)
    return session_affinity.SessionAffinityScorer(
        max_sessions=_positive_int(session_affinity.NAME, "maxSessions", max_sessions)
    )


def _prefix_index(name: str, context: PluginContext) -> prefix_index.PrefixIndex:
    if context.prefixes is None:
        raise ValueError(
            f"routing plugin {name!r} reads the gateway's prefix index: give the scheduler one "
            "(prefix_capacity_tokens)"
        )
    return context.prefixes


def _prefix_cache(parameters: Mapping[str, Any], context: PluginContext) -> object:
    _parameters(prefix_cache.NAME, parameters, ())
    _prefix_index(prefix_cache.NAME, context)
    return prefix_cache.PrefixCacheScorer()


def _prefix_affinity(parameters: Mapping[str, Any], context: PluginContext) -> object:
    name = prefix_affinity.NAME
    given = _parameters(name, parameters, ("minShare", "maxWaitShare"))
    _prefix_index(name, context)
    values = {
        "minShare": given.get("minShare", prefix_affinity.DEFAULT_MIN_SHARE),
        "maxWaitShare": given.get("maxWaitShare", prefix_affinity.DEFAULT_MAX_WAIT_SHARE),
    }
    for parameter, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"routing plugin {name!r}: {parameter} must be a number in [0, 1]")
    try:
        return prefix_affinity.PrefixAffinityFilter(
            min_share=float(values["minShare"]), max_wait_share=float(values["maxWaitShare"])
        )
    except ValueError as error:
        raise ValueError(f"routing plugin {name!r}: {error}") from error


def _queue(parameters: Mapping[str, Any], context: PluginContext) -> object:
    _parameters(queue_depth.NAME, parameters, ())
    return queue_depth.QueueScorer()


def _kv_utilization(parameters: Mapping[str, Any], context: PluginContext) -> object:
    _parameters(kv_utilization.NAME, parameters, ())
    return kv_utilization.KVUtilizationScorer()


def _cache_aware(parameters: Mapping[str, Any], context: PluginContext) -> object:
    name = cache_aware.NAME
    given = _parameters(
        name, parameters, ("cacheThreshold", "balanceAbsThreshold", "balanceRelThreshold")
    )
    threshold = given.get("cacheThreshold", cache_aware.DEFAULT_CACHE_THRESHOLD)
    relative = given.get("balanceRelThreshold", cache_aware.DEFAULT_BALANCE_REL_THRESHOLD)
    for parameter, value in (("cacheThreshold", threshold), ("balanceRelThreshold", relative)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"routing plugin {name!r}: {parameter} must be a number at or above 0")
    absolute = given.get("balanceAbsThreshold", cache_aware.DEFAULT_BALANCE_ABS_THRESHOLD)
    if isinstance(absolute, bool) or not isinstance(absolute, int) or absolute < 0:
        raise ValueError(f"routing plugin {name!r}: balanceAbsThreshold must be a whole number")
    return cache_aware.CacheAwareScorer(
        index=_prefix_index(name, context),
        cache_threshold=float(threshold),
        balance_abs_threshold=absolute,
        balance_rel_threshold=float(relative),
    )


def _round_robin(parameters: Mapping[str, Any], context: PluginContext) -> object:
    _parameters(round_robin.NAME, parameters, ())
    return round_robin.RoundRobinPicker()


def _highest_score(parameters: Mapping[str, Any], context: PluginContext) -> object:
    _parameters(pickers.HIGHEST_SCORE, parameters, ())
    return pickers.HighestScorePicker()
