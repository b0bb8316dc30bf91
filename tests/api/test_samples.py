"""The samples in config/samples/ are valid ModelServices and show what the docs promise."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sloserve.api import modelservice, spec

SAMPLES = Path(__file__).resolve().parents[2] / "config" / "samples"
# SCORPIO's three service classes: (TTFT, TPOT) in seconds.
SCORPIO_CLASSES = {"interactive": (0.5, 0.05), "standard": (3.0, 0.03), "batch": (15.0, 0.05)}


def _sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("modelservice-*.yaml"))


def _load(name: str) -> modelservice.ModelService:
    return modelservice.ModelService.model_validate(yaml.safe_load((SAMPLES / name).read_text()))


def test_there_is_a_sample_per_engine_kind() -> None:
    kinds = {
        modelservice.ModelService.model_validate(yaml.safe_load(path.read_text())).spec.engine.kind
        for path in _sample_files()
    }
    assert kinds == set(spec.EngineKind)


@pytest.mark.parametrize("path", _sample_files(), ids=lambda path: path.name)
def test_every_sample_is_a_valid_model_service(path: Path) -> None:
    documents = list(yaml.safe_load_all(path.read_text()))
    assert documents
    for document in documents:
        service = modelservice.ModelService.model_validate(document)
        assert service.metadata.name


@pytest.mark.parametrize("name", ["modelservice-sim.yaml", "modelservice-vllm-h100.yaml"])
def test_samples_declare_scorpios_three_classes(name: str) -> None:
    service = _load(name)
    objectives = {c.name: (c.ttft_seconds, c.tpot_seconds) for c in service.spec.slo_classes}
    assert objectives == SCORPIO_CLASSES


def test_the_vllm_sample_runs_on_one_h100_per_replica() -> None:
    engine = _load("modelservice-vllm-h100.yaml").spec.engine
    assert engine.kind is spec.EngineKind.VLLM
    assert engine.image is not None
    assert engine.image.startswith("vllm/vllm-openai:")
    assert (engine.gpus, engine.gpu_product) == (1, "NVIDIA-H100-80GB-HBM3")
    assert "--max-num-seqs=256" in engine.args


def test_the_sim_sample_needs_no_gpu() -> None:
    engine = _load("modelservice-sim.yaml").spec.engine
    assert (engine.kind, engine.gpus) == (spec.EngineKind.SIM, 0)
