"""The committed CRD files equal what the models generate; `sloserve crds` writes, checks them."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from sloserve.api import crd, crd_files, finetunejob
from sloserve.cli import crds as crds_command

REPOSITORY = Path(__file__).resolve().parents[2]


def test_committed_crds_equal_what_the_models_generate() -> None:
    drifted = crd_files.find_drift([REPOSITORY / "crds"])
    assert drifted == [], "run `sloserve crds` and commit the result"


def test_the_generated_file_is_named_group_underscore_plural() -> None:
    names = [generated.name for generated in crd_files.generated_files()]
    assert names == ["sloserve.io_modelservices.yaml", "sloserve.io_finetunejobs.yaml"]


def test_the_yaml_reads_back_as_the_definition() -> None:
    modelservices, finetunejobs = crd_files.generated_files()
    assert modelservices.content.startswith(crd_files.HEADER)
    assert yaml.safe_load(modelservices.content) == crd.modelservice_crd()
    assert yaml.safe_load(finetunejobs.content) == finetunejob.finetunejob_crd()


def test_rendering_is_deterministic() -> None:
    first = crd_files.render_yaml(crd.modelservice_crd())
    assert first == crd_files.render_yaml(crd.modelservice_crd())


def test_writes_into_every_target_and_reports_only_changes(tmp_path: Path) -> None:
    targets = [tmp_path / "crds", tmp_path / "chart" / "crds"]
    written = crd_files.write_files(targets)
    assert written == [
        target / name
        for target in targets
        for name in ("sloserve.io_modelservices.yaml", "sloserve.io_finetunejobs.yaml")
    ]
    assert crd_files.find_drift(targets) == []
    assert crd_files.write_files(targets) == []


def test_finds_missing_and_changed_files(tmp_path: Path) -> None:
    current, edited, empty = tmp_path / "current", tmp_path / "edited", tmp_path / "empty"
    crd_files.write_files([current, edited])
    edited_file = edited / "sloserve.io_modelservices.yaml"
    edited_file.write_text(edited_file.read_text().replace("msvc", "ms"))
    assert crd_files.find_drift([current, edited, empty]) == [
        crd_files.Drift(path=edited_file, kind=crd_files.DriftKind.CHANGED),
        crd_files.Drift(
            path=empty / "sloserve.io_modelservices.yaml", kind=crd_files.DriftKind.MISSING
        ),
        crd_files.Drift(
            path=empty / "sloserve.io_finetunejobs.yaml", kind=crd_files.DriftKind.MISSING
        ),
    ]


def test_command_check_fails_naming_the_drifted_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(crds_command.crds, ["--output-dir", str(tmp_path), "--check"])
    assert result.exit_code == 1
    assert f"{tmp_path / 'sloserve.io_modelservices.yaml'}: missing" in result.output
    assert not any(tmp_path.iterdir())


def test_command_writes_then_check_passes(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    options = ["--output-dir", str(first), "--output-dir", str(second)]
    written = CliRunner().invoke(crds_command.crds, options)
    assert written.exit_code == 0, written.output
    assert f"wrote {first / 'sloserve.io_modelservices.yaml'}" in written.output
    checked = CliRunner().invoke(crds_command.crds, [*options, "--check"])
    assert checked.exit_code == 0, checked.output
    assert "up to date" in checked.output
