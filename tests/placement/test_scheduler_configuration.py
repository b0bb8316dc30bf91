from __future__ import annotations

import pytest
import yaml

from sloserve.placement import scheduler_config


def test_profile_is_named_for_sloserve_and_asks_the_extender() -> None:
    config = scheduler_config.kube_scheduler_configuration(extender_url="http://127.0.0.1:8788/")
    assert config["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert config["profiles"] == [{"schedulerName": "sloserve-scheduler"}]
    (extender,) = config["extenders"]
    assert extender["urlPrefix"] == "http://127.0.0.1:8788"
    assert (extender["filterVerb"], extender["prioritizeVerb"]) == ("filter", "prioritize")
    assert extender["nodeCacheCapable"] is False
    assert extender["ignorable"] is False


def test_leader_election_never_takes_the_default_schedulers_lease() -> None:
    config = scheduler_config.kube_scheduler_configuration(
        extender_url="http://placement:8788", scheduler_name="gpu-aware"
    )
    assert config["leaderElection"]["resourceName"] == "gpu-aware"
    local = scheduler_config.kube_scheduler_configuration(
        extender_url="http://127.0.0.1:1", leader_elect=False, kubeconfig="/k/config"
    )
    assert local["leaderElection"] == {"leaderElect": False}
    assert local["clientConnection"] == {"kubeconfig": "/k/config"}


def test_rendered_yaml_reads_back_the_same() -> None:
    config = scheduler_config.kube_scheduler_configuration(extender_url="https://x:1")
    assert yaml.safe_load(scheduler_config.render(config)) == config
    assert config["extenders"][0]["enableHTTPS"] is True


def test_a_url_without_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="extender_url"):
        scheduler_config.kube_scheduler_configuration(extender_url="placement:8788")
