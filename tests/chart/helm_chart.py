"""Rendering the chart with the cached helm binary, for tests that inspect what it produces."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
CHART = REPOSITORY / "charts" / "sloserve"
#: The Kubernetes version templates are rendered for: the local cluster's minor release.
KUBE_VERSION = "1.34.0"
SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor"

Manifest = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Rendered:
    """The documents of one `helm template`, with lookups by kind and name."""

    documents: tuple[Manifest, ...]

    def kinds(self) -> list[str]:
        return sorted(document["kind"] for document in self.documents)

    def all_of(self, kind: str) -> list[Manifest]:
        return [document for document in self.documents if document["kind"] == kind]

    def one(self, kind: str, name_suffix: str = "") -> Manifest:
        """The only document of `kind` whose name ends with `name_suffix`; fails otherwise."""
        found = [
            document
            for document in self.all_of(kind)
            if document["metadata"]["name"].endswith(name_suffix)
        ]
        assert len(found) == 1, f"expected one {kind} named *{name_suffix}, found {len(found)}"
        return found[0]

    def container(self, name_suffix: str) -> Manifest:
        """The first container of the Deployment whose name ends with `name_suffix`."""
        deployment = self.one("Deployment", name_suffix)
        container: Manifest = deployment["spec"]["template"]["spec"]["containers"][0]
        return container

    def env(self, name_suffix: str) -> dict[str, Manifest]:
        """The environment entries of that container, by variable name."""
        return {entry["name"]: entry for entry in self.container(name_suffix).get("env", [])}

    def pod_specs(self) -> Iterator[tuple[str, Manifest]]:
        for deployment in self.all_of("Deployment"):
            yield deployment["metadata"]["name"], deployment["spec"]["template"]["spec"]


@dataclasses.dataclass(frozen=True)
class Failure:
    """A `helm template` that failed, with what helm printed."""

    returncode: int
    stderr: str


def template_command(
    helm: pathlib.Path,
    *,
    values_file: pathlib.Path | None,
    set_values: Sequence[str] = (),
    api_versions: Sequence[str] = (),
    release: str = "demo",
    namespace: str = "sloserve-system",
) -> list[str]:
    argv = [
        str(helm),
        "template",
        release,
        str(CHART),
        f"--namespace={namespace}",
        f"--kube-version={KUBE_VERSION}",
    ]
    if values_file is not None:
        argv.append(f"--values={values_file}")
    argv += [f"--set={value}" for value in set_values]
    argv += [f"--api-versions={version}" for version in api_versions]
    return argv


def run_template(
    helm: pathlib.Path,
    *,
    values: Mapping[str, Any] | None = None,
    set_values: Sequence[str] = (),
    api_versions: Sequence[str] = (),
    release: str = "demo",
    namespace: str = "sloserve-system",
) -> Rendered | Failure:
    """`helm template` of the chart with `values` (written to a file) and `--set` values."""
    with tempfile.TemporaryDirectory() as scratch:
        values_file = None
        if values is not None:
            values_file = pathlib.Path(scratch) / "values.yaml"
            values_file.write_text(json.dumps(values))
        argv = template_command(
            helm,
            values_file=values_file,
            set_values=set_values,
            api_versions=api_versions,
            release=release,
            namespace=namespace,
        )
        completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        return Failure(returncode=completed.returncode, stderr=completed.stderr)
    documents = tuple(doc for doc in yaml.safe_load_all(completed.stdout) if doc)
    return Rendered(documents=documents)


def render(helm: pathlib.Path, **options: Any) -> Rendered:
    """Like `run_template`, failing the test with helm's message when rendering fails."""
    result = run_template(helm, **options)
    assert isinstance(result, Rendered), f"helm template failed:\n{result}"
    return result


def refuse(helm: pathlib.Path, **options: Any) -> str:
    """Renders values that must be refused; returns helm's error output."""
    result = run_template(helm, **options)
    assert isinstance(result, Failure), "helm template accepted values it should refuse"
    return result.stderr


#: Every optional part on: what the "all options" tests render.
ALL_OPTIONS: dict[str, Any] = {
    "commonLabels": {"team": "platform"},
    "image": {"digest": "sha256:" + "ab" * 32},
    "imagePullSecrets": [{"name": "registry"}],
    "operator": {
        "replicas": 2,
        "watchNamespaces": ["team-a", "team-b"],
        "engines": {"simImage": "ghcr.io/sloserve/sloserve:sim", "imagePullPolicy": "Always"},
        "extraEnv": [{"name": "SLOSERVE_OPERATOR__STATUS__REFRESH_INTERVAL_S", "value": "2"}],
        "priorityClassName": "system-cluster-critical",
        "nodeSelector": {"kubernetes.io/os": "linux"},
    },
    "gateway": {
        "watchNamespace": "team-a",
        "service": {"type": "NodePort", "nodePort": 30080},
        "tenants": {"existingSecret": "gateway-keys", "key": "keys.yaml"},
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6},
        "extraEnv": [{"name": "SLOSERVE_GATEWAY__PROXY__READ_TIMEOUT_S", "value": "120"}],
        "tokenizers": {"modelCacheClaim": "llama-weights", "modelCacheMountPath": "/cache"},
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "gateway"}},
            }
        ],
    },
    "finetune": {
        "enabled": True,
        "controlIntervalSeconds": 2,
        "throttle": {"holdSeconds": 3, "evictAfterSeconds": 30},
        "worker": {"image": "ghcr.io/sloserve/sloserve:worker"},
    },
    "metrics": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "grafanaDashboard": {"namespace": "monitoring"},
    },
}
