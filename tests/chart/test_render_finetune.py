"""`finetune.enabled` turns the operator's FineTuneJob controller on with the chart's settings,
and the chart installs the FineTuneJob CRD whether or not it is on."""

from __future__ import annotations

import json
import pathlib

from chart import helm_chart
from sloserve.api import finetunejob
from sloserve.operator.settings import OperatorSettings


def test_the_crd_ships_with_the_chart() -> None:
    shipped = helm_chart.CHART / "crds" / f"sloserve.io_{finetunejob.PLURAL}.yaml"
    assert finetunejob.CRD_NAME in shipped.read_text()


def test_enabling_it_sets_the_operators_finetune_settings(helm: pathlib.Path) -> None:
    rendered = helm_chart.render(
        helm,
        values={
            "finetune": {
                "enabled": True,
                "controlIntervalSeconds": 1,
                "throttle": {"holdSeconds": 2, "rampIntervalSeconds": 1, "ramp": 0.25},
                "worker": {"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
            }
        },
    )
    env = {
        name: entry["value"]
        for name, entry in rendered.env("-operator").items()
        if name.startswith("SLOSERVE_OPERATOR__FINETUNE__")
    }
    assert env["SLOSERVE_OPERATOR__FINETUNE__ENABLED"] == "true"
    # The operator itself parses them: a name or a value the settings refuse fails here.
    prefix = "SLOSERVE_OPERATOR__FINETUNE__"
    settings = OperatorSettings.model_validate(
        {
            "finetune": {
                name.removeprefix(prefix).lower(): (
                    json.loads(value) if value.startswith("{") else value
                )
                for name, value in env.items()
            }
        }
    ).finetune
    assert settings.enabled
    assert (settings.control_interval_s, settings.hold_s, settings.ramp_interval_s) == (1, 2, 1)
    assert settings.ramp == 0.25
    assert settings.evict_after_s == 120
    assert settings.worker_resources == {"requests": {"cpu": "100m", "memory": "128Mi"}}
    # The worker runs the chart's image unless a value names another.
    assert settings.worker_image == rendered.container("-operator")["image"]


def test_a_worker_image_value_replaces_the_charts(helm: pathlib.Path) -> None:
    rendered = helm_chart.render(
        helm, set_values=["finetune.enabled=true", "finetune.worker.image=registry/worker:1"]
    )
    env = rendered.env("-operator")
    assert env["SLOSERVE_OPERATOR__FINETUNE__WORKER_IMAGE"]["value"] == "registry/worker:1"


def test_a_bad_throttle_value_is_refused_naming_it(helm: pathlib.Path) -> None:
    stderr = helm_chart.refuse(helm, set_values=["finetune.throttle.ramp=2"])
    assert "finetune/throttle/ramp" in stderr or "finetune.throttle.ramp" in stderr
