"""Bad configuration is refused before the gateway starts, with one line naming the file and
the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gateway_processes import CLASSES as SCORPIO_CLASSES

from sloserve.gateway import settings, startup_checks, tenants


def _models(directory: Path, **entry: object) -> Path:
    path = directory / "models.yaml"
    model = {
        "model": "m",
        "sloClasses": SCORPIO_CLASSES,
        "defaultClass": "standard",
        "engines": ["http://127.0.0.1:9"],
        **entry,
    }
    path.write_text(yaml.safe_dump({"models": [model]}))
    return path


def _tenants(directory: Path, content: object) -> Path:
    path = directory / "tenants.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def _config(models: Path, tenants_file: Path | None = None, **scheduling: object):
    return settings.GatewaySettings(
        sources=settings.SourceSettings(config_file=models, tenants_file=tenants_file),
        scheduling=settings.SchedulingSettings(**scheduling),
    )


def test_a_misspelt_profile_is_refused_naming_the_model_and_the_known_profiles(tmp_path):
    with pytest.raises(ValueError, match="not known") as refused:
        startup_checks.check(_config(_models(tmp_path, profile="h100-lama3-8b")))

    message = str(refused.value)
    assert "\n" not in message
    assert "models[0].profile: model 'm' names profile 'h100-lama3-8b', which is not known" in (
        message
    )
    assert "h100-llama3-8b" in message.split("use one of")[1]


def test_a_misspelt_field_is_one_line_naming_where_it_is(tmp_path):
    with pytest.raises(ValueError, match="maxNumSeq") as refused:
        startup_checks.check(_config(_models(tmp_path, maxNumSeq=8)))

    message = str(refused.value)
    assert "\n" not in message
    assert "models[0].maxNumSeq: Extra inputs are not permitted" in message


def test_an_unknown_class_in_a_tenant_is_refused_at_load(tmp_path):
    file = _tenants(
        tmp_path,
        {"tenants": [{"name": "team-a", "keys": ["k"], "allowedClasses": ["interactve"]}]},
    )

    with pytest.raises(ValueError, match="tenant 'team-a': allowedClasses names SLO class"):
        startup_checks.check(_config(_models(tmp_path), file))
    with pytest.raises(ValueError, match="'interactve', which no model has"):
        tenants.load_tenants_file(file, known_classes=frozenset({"interactive", "batch"}))
    # without knowing every class (models from Kubernetes), the name is taken as given
    assert tenants.load_tenants_file(file).by_key["k"].allowed_classes == {"interactve"}


def test_a_routing_profile_with_an_unknown_plugin_is_refused(tmp_path):
    config = _config(_models(tmp_path), routing={"scorers": [{"type": "prefix-hit"}]})

    with pytest.raises(ValueError, match=r"scheduling.routing: .*unknown plugin type 'prefix-hit'"):
        startup_checks.check(config)


def test_the_command_says_it_in_one_line_and_exits(tmp_path):
    models = _models(tmp_path, profile="h100-lama3-8b")

    finished = subprocess.run(
        [str(Path(sys.executable).parent / "sloserve"), "gateway", f"--config={models}"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 1
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: models file {models}: models[0].profile")
