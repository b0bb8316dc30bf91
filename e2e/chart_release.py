"""Installing and removing the chart with helm, as a platform team would."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from e2e import providers

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
CHART = REPOSITORY / "charts" / "sloserve"
INSTALL_TIMEOUT = "240s"


@dataclasses.dataclass(frozen=True)
class ChartRelease:
    """An installed release and the names of what it made."""

    name: str
    namespace: str
    notes: str

    @property
    def operator(self) -> str:
        return f"{self.name}-sloserve-operator"

    @property
    def gateway(self) -> str:
        return f"{self.name}-sloserve-gateway"

    def service_account(self, component: str) -> str:
        """The `system:serviceaccount:…` user name of a component's ServiceAccount."""
        return f"system:serviceaccount:{self.namespace}:{self.name}-sloserve-{component}"


def install(
    provider: providers.Provider, *, name: str, namespace: str, values: Mapping[str, Any]
) -> ChartRelease:
    """`helm install --wait` of the chart with `values` (a values file) and the provider's
    `--set`s; returns once every Deployment of the release is available. Raises CommandError
    with helm's output when it fails."""
    with tempfile.TemporaryDirectory() as scratch:
        values_file = pathlib.Path(scratch) / "values.yaml"
        values_file.write_text(json.dumps(values))
        installed = provider.cluster.helm(
            "install",
            name,
            str(CHART),
            f"--namespace={namespace}",
            "--create-namespace",
            "--wait",
            f"--timeout={INSTALL_TIMEOUT}",
            f"--values={values_file}",
            *(f"--set={value}" for value in provider.chart_values),
        )
    return ChartRelease(name=name, namespace=namespace, notes=installed.stdout)


def upgrade(
    provider: providers.Provider, release: ChartRelease, *, set_values: Sequence[str]
) -> None:
    """`helm upgrade --reuse-values --wait` of the release with `set_values` (`--set` syntax) over
    the values it has; returns once every Deployment of the release is available again. Raises
    CommandError with helm's output when it fails."""
    provider.cluster.helm(
        "upgrade",
        release.name,
        str(CHART),
        f"--namespace={release.namespace}",
        "--reuse-values",
        "--wait",
        f"--timeout={INSTALL_TIMEOUT}",
        *(f"--set={value}" for value in set_values),
    )


def uninstall(provider: providers.Provider, release: ChartRelease) -> None:
    """Removes the release and its namespace (without waiting for the namespace to go)."""
    provider.cluster.helm(
        "uninstall", release.name, f"--namespace={release.namespace}", "--wait", check=False
    )
    provider.cluster.kubectl("delete", "namespace", release.namespace, "--wait=false", check=False)


def user_values(provider: providers.Provider, release: ChartRelease) -> dict[str, Any]:
    """The values the release was installed or last upgraded with (`helm get values`)."""
    shown = provider.cluster.helm(
        "get", "values", release.name, f"--namespace={release.namespace}", "--output=json"
    )
    values: dict[str, Any] = json.loads(shown.stdout) or {}
    return values


def upgrade_to(
    provider: providers.Provider, release: ChartRelease, *, values: Mapping[str, Any]
) -> None:
    """`helm upgrade --reset-values --wait` of the release to exactly `values` (what
    `user_values` returned, say, to undo a test's upgrade); returns once every Deployment of the
    release is available again. Raises CommandError with helm's output when it fails."""
    with tempfile.TemporaryDirectory() as scratch:
        values_file = pathlib.Path(scratch) / "values.yaml"
        values_file.write_text(json.dumps(values))
        provider.cluster.helm(
            "upgrade",
            release.name,
            str(CHART),
            f"--namespace={release.namespace}",
            "--reset-values",
            "--wait",
            f"--timeout={INSTALL_TIMEOUT}",
            f"--values={values_file}",
        )
