"""`helm lint` passes with the default values and with every option on."""

from __future__ import annotations

import json
import pathlib
import subprocess

from chart import helm_chart


def _lint(helm: pathlib.Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(helm),
            "lint",
            "--strict",
            f"--kube-version={helm_chart.KUBE_VERSION}",
            str(helm_chart.CHART),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_lint_is_clean_with_default_values(helm: pathlib.Path) -> None:
    linted = _lint(helm)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout
    assert "[WARNING]" not in linted.stdout
    assert "[ERROR]" not in linted.stdout


def test_lint_is_clean_with_every_option_on(helm: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # helm lint cannot be told that the ServiceMonitor API exists, and the chart refuses to render
    # ServiceMonitors without it; the render tests cover them.
    options = json.loads(json.dumps(helm_chart.ALL_OPTIONS))
    options["metrics"]["serviceMonitor"]["enabled"] = False
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps(options))
    linted = _lint(helm, f"--values={values}")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "[WARNING]" not in linted.stdout
