"""The operator's settings: from the environment, grouped, and checked."""

from __future__ import annotations

import pathlib

import pydantic
import pytest

from sloserve.operator.settings import OperatorSettings


def test_nested_environment_variables_set_each_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOSERVE_OPERATOR__STATUS__REFRESH_INTERVAL_S", "2.5")
    monkeypatch.setenv("SLOSERVE_OPERATOR__KUBERNETES__NAMESPACES", '["team-a","team-b"]')
    monkeypatch.setenv("SLOSERVE_OPERATOR__KUBERNETES__KUBECONFIG", "/etc/kube/config")
    monkeypatch.setenv("SLOSERVE_OPERATOR__ENGINES__SIM_IMAGE", "registry.local/sloserve:dev")
    monkeypatch.setenv("SLOSERVE_OPERATOR__LEADER_ELECTION__ENABLED", "false")
    settings = OperatorSettings()
    assert settings.status.refresh_interval_s == 2.5
    assert settings.kubernetes.namespaces == ("team-a", "team-b")
    assert settings.kubernetes.kubeconfig == pathlib.Path("/etc/kube/config")
    assert settings.engines.sim_image == "registry.local/sloserve:dev"
    assert not settings.leader_election.enabled


def test_defaults_elect_a_leader_and_serve_every_namespace() -> None:
    settings = OperatorSettings()
    assert settings.leader_election.enabled
    assert settings.kubernetes.namespaces == ()
    assert settings.engines.sim_image.startswith("ghcr.io/sloserve/sloserve:")


def test_renew_deadline_must_end_before_the_lease_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOSERVE_OPERATOR__LEADER_ELECTION__RENEW_DEADLINE_S", "20")
    with pytest.raises(pydantic.ValidationError, match="renew_deadline_s < lease_duration_s"):
        OperatorSettings()


def test_backoff_maximum_below_its_start_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOSERVE_OPERATOR__RETRIES__MAX_BACKOFF_S", "0.5")
    with pytest.raises(pydantic.ValidationError, match=r"retries\.max_backoff_s"):
        OperatorSettings()


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="extra"):
        OperatorSettings.model_validate({"status": {"refresh_interval": 3}})
