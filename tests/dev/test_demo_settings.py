"""What `sloserve dev demo` runs, by engine: the sample, the load and the cluster it asks for."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from sloserve_dev import demo, demo_load
from sloserve_dev.real_vllm import engine_image

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]


def _settings(**more: str) -> demo.DemoSettings:
    return demo.DemoSettings(state_dir=pathlib.Path("state"), repository=REPOSITORY, **more)


def test_the_default_demo_runs_simulated_engines_on_the_plain_cluster() -> None:
    settings = _settings()
    assert settings.sample.name == "modelservice-sim.yaml"
    assert settings.workload_file.name == "workload.yaml"
    options = settings.cluster_options()
    assert (options.name, options.host_mounts, options.extra_images) == ("sloserve", (), ())


def test_the_vllm_demo_asks_for_the_vllm_engine_on_a_cluster_of_its_name() -> None:
    settings = _settings(engine="vllm", name="vllmdemo")
    assert settings.sample.name == "modelservice-vllm-kind.yaml"
    assert settings.workload_file.name == "workload-vllm.yaml"
    options = settings.cluster_options()
    assert options.name == "vllmdemo"
    assert options.extra_images == (engine_image.IMAGE_NAME,)
    assert [m.node_path for m in options.host_mounts] == [engine_image.NODE_DIR]
    assert all(m.read_only for m in options.host_mounts)


def test_the_vllm_sample_and_its_load_fit_together_and_the_nodes_mount() -> None:
    settings = _settings(engine="vllm")
    sample = yaml.safe_load(settings.sample.read_text())
    engine = sample["spec"]["engine"]
    classes = [slo_class["name"] for slo_class in sample["spec"]["sloClasses"]]
    demo_load.load_workload(settings.workload_file, classes=classes)
    assert engine["image"] == engine_image.IMAGE
    assert engine["modelCache"]["hostPath"]["path"] == engine_image.NODE_MODELS
    (venv,) = engine["pod"]["volumes"]
    assert venv["hostPath"]["path"] == engine_image.NODE_VENV


def test_an_unknown_engine_is_refused_naming_the_choices() -> None:
    with pytest.raises(demo.DemoError, match="sim, vllm"):
        _settings(engine="tgi")
