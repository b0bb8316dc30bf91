"""Profiles built from configuration, and plugins a user adds."""

import pytest
from routing_helpers import engine, route

from sloserve.scheduling.routing import contract, plugins


def test_a_configuration_in_the_settings_shape_builds_its_profile(latency):
    spec = plugins.RoutingSpec.from_mapping(
        {
            "filters": [{"type": "room"}, {"type": "ttft-guard"}],
            "scorers": [
                {"type": "predicted-completion", "weight": 1},
                {"type": "session-affinity", "weight": 0.5, "parameters": {"maxSessions": 10}},
            ],
        }
    )

    built = plugins.build_profile(spec, plugins.PluginContext(latency=latency))

    assert [f.name for f in built.filters] == ["room", "ttft-guard"]
    assert [(w, s.name) for w, s in built.scorers] == [
        (1.0, "predicted-completion"),
        (0.5, "session-affinity"),
    ]
    assert built.picker.name == "highest-score"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"scorer": []}, "unknown field.*scorer.*filters, scorers and picker"),
        ({"filters": "room"}, "routing filters: must be a list"),
        ({"scorers": [{"type": "load", "weight": -2}]}, r"scorers\[0\]: weight must be"),
        ({"filters": [{"type": "room", "weight": 1}]}, r"filters\[0\]: unknown field.*weight"),
        ({"scorers": [{"weight": 1}]}, r"scorers\[0\]: type must name"),
    ],
)
def test_a_bad_configuration_names_the_field(raw, message):
    with pytest.raises(ValueError, match=message):
        plugins.RoutingSpec.from_mapping(raw)


def test_an_unknown_type_lists_the_known_ones(latency):
    spec = plugins.RoutingSpec(scorers=(plugins.PluginSpec(type="prefix-hit"),))

    with pytest.raises(
        ValueError,
        match="unknown plugin type 'prefix-hit'; known types: cache-aware, highest-score, "
        "kv-cache-utilization, load",
    ):
        plugins.build_profile(spec, plugins.PluginContext(latency=latency))


def test_plugins_that_predict_need_a_latency_model():
    spec = plugins.RoutingSpec(filters=(plugins.PluginSpec(type="ttft-guard"),))

    with pytest.raises(ValueError, match="'ttft-guard' predicts latencies"):
        plugins.build_profile(spec, plugins.PluginContext(latency=None))


def test_an_unknown_parameter_is_refused(latency):
    spec = plugins.RoutingSpec(
        scorers=(plugins.PluginSpec(type="session-affinity", parameters={"ttl": 5}),)
    )

    with pytest.raises(ValueError, match=r"unknown parameter.*ttl.*maxSessions"):
        plugins.build_profile(spec, plugins.PluginContext(latency=latency))


class _PrefersEngine:
    """A user's scorer: prefers the engines whose signals say they hold the model's adapter."""

    name = "has-adapter"

    def score(self, route_request, candidates):
        return [1.0 if c.engine.signals.get("adapter") else 0.0 for c in candidates]


def test_a_user_adds_a_scorer_by_extending_the_factory_table(make_request, latency):
    factories = plugins.default_factories()
    factories["has-adapter"] = lambda parameters, context: _PrefersEngine()
    spec = plugins.RoutingSpec(scorers=(plugins.PluginSpec(type="has-adapter"),))

    built = plugins.build_profile(spec, plugins.PluginContext(latency=latency), factories=factories)
    placement = route(
        built, make_request("r"), [engine("plain"), engine("tuned", signals={"adapter": True})]
    )

    assert placement == contract.Placement(engine_id="tuned")
    # the table is the caller's: the built-in one is unchanged
    assert "has-adapter" not in plugins.default_factories()


def test_a_plugin_in_the_wrong_role_is_refused(latency):
    factories = plugins.default_factories()
    spec = plugins.RoutingSpec(filters=(plugins.PluginSpec(type="load"),))

    with pytest.raises(ValueError, match="plugin type 'load' is not a filter"):
        plugins.build_profile(spec, plugins.PluginContext(latency=latency), factories=factories)
