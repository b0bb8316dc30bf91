"""Settings come from the environment with nested groups, and must name a source of models."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from sloserve.gateway import settings


def test_nested_groups_read_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOSERVE_GATEWAY__SERVER__PORT", "9123")
    monkeypatch.setenv("SLOSERVE_GATEWAY__SOURCES__KUBERNETES", "true")
    monkeypatch.setenv("SLOSERVE_GATEWAY__SCHEDULING__POLICY", "deadline")
    config = settings.GatewaySettings()
    assert config.server.port == 9123
    assert config.sources.kubernetes
    assert config.scheduling.policy == "deadline"


def test_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOSERVE_GATEWAY__SERVER__PORT", "9123")
    monkeypatch.setenv("SLOSERVE_GATEWAY__SERVER__HOST", "127.0.0.1")
    config = settings.GatewaySettings(server={"port": 1}, sources={"config_file": Path("m.yaml")})
    assert (config.server.host, config.server.port) == ("127.0.0.1", 1)


def test_without_a_source_of_models_the_error_says_how_to_give_one() -> None:
    with pytest.raises(pydantic.ValidationError, match="--config"):
        settings.GatewaySettings()
