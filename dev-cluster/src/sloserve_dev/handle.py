"""A handle on a running cluster, local or not: where its kubeconfig is and how to run kubectl
and helm against it. This is what the test fixture hands to tests."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import time

import yaml


class CommandError(subprocess.CalledProcessError):
    """kubectl or helm failed; unlike its parent, the message includes what the tool printed."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


@dataclasses.dataclass(frozen=True)
class ClusterHandle:
    """A cluster reachable through `kubeconfig`; `bin_dir` holds kubectl and helm. `nodes`
    names the local kind cluster's nodes (empty for any other cluster)."""

    kubeconfig: pathlib.Path
    bin_dir: pathlib.Path
    server: str
    nodes: tuple[str, ...] = ()

    @classmethod
    def from_kubeconfig(cls, kubeconfig: pathlib.Path, *, bin_dir: pathlib.Path) -> ClusterHandle:
        """A handle on the current context's cluster of an existing kubeconfig."""
        config = yaml.safe_load(kubeconfig.read_text())
        context_name = config.get("current-context")
        contexts = {entry["name"]: entry["context"] for entry in config.get("contexts", [])}
        clusters = {entry["name"]: entry["cluster"] for entry in config.get("clusters", [])}
        if context_name not in contexts:
            raise ValueError(f"{kubeconfig}: current-context {context_name!r} is not defined")
        cluster = clusters.get(contexts[context_name]["cluster"])
        if cluster is None:
            raise ValueError(f"{kubeconfig}: context {context_name!r} names an unknown cluster")
        return cls(kubeconfig=kubeconfig, bin_dir=bin_dir, server=str(cluster["server"]))

    def env(self) -> dict[str, str]:
        """This process's environment with KUBECONFIG pointing here and kubectl/helm on PATH."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def _run(
        self, tool: str, args: tuple[str, ...], *, input: str | None, check: bool
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / tool), *args]
        completed = subprocess.run(
            argv, input=input, capture_output=True, text=True, env=self.env(), check=False
        )
        if check and completed.returncode != 0:
            raise CommandError(
                completed.returncode, argv, output=completed.stdout, stderr=completed.stderr
            )
        return completed

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Runs kubectl against this cluster, capturing text output; with `check`, a non-zero
        exit raises CommandError carrying stdout and stderr."""
        return self._run("kubectl", args, input=input, check=check)

    def helm(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Runs helm against this cluster, like `kubectl`."""
        return self._run("helm", args, input=input, check=check)

    def wait_for_crd(self, name: str, *, timeout_s: float = 60.0) -> None:
        """Waits until the CustomResourceDefinition `name` is Established. `kubectl wait
        --for=condition=Established` fails outright when it looks before the API server has
        written any condition, which a just-applied CRD may not have yet; this asks again."""
        deadline = time.monotonic() + timeout_s
        jsonpath = 'jsonpath={.status.conditions[?(@.type=="Established")].status}'
        while True:
            found = self.kubectl("get", f"crd/{name}", "-o", jsonpath, check=False)
            if found.returncode == 0 and found.stdout.strip() == "True":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"crd/{name} was not Established within {timeout_s:g} s: {found.stderr}"
                    f"{found.stdout}"
                )
            time.sleep(0.2)
