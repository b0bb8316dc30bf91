"""The files of one local cluster inside its state directory."""

from __future__ import annotations

import dataclasses
import pathlib


@dataclasses.dataclass(frozen=True)
class ClusterLayout:
    """Paths under a cluster's state directory. Creating the layout touches nothing on disk."""

    state_dir: pathlib.Path

    @property
    def state_file(self) -> pathlib.Path:
        """The running cluster's record (JSON); present exactly while the cluster may be running."""
        return self.state_dir / "cluster.json"

    @property
    def lock_file(self) -> pathlib.Path:
        """Held while a command starts or stops this cluster."""
        return self.state_dir / ".lock"

    @property
    def pki_dir(self) -> pathlib.Path:
        return self.state_dir / "pki"

    @property
    def logs_dir(self) -> pathlib.Path:
        return self.state_dir / "logs"

    @property
    def kubeconfig(self) -> pathlib.Path:
        """The administrator's kubeconfig (group system:masters)."""
        return self.state_dir / "kubeconfig"

    def component_kubeconfig(self, component: str) -> pathlib.Path:
        return self.state_dir / f"{component}.kubeconfig"

    def log_file(self, component: str) -> pathlib.Path:
        return self.logs_dir / f"{component}.log"

    def pki(self, name: str) -> tuple[pathlib.Path, pathlib.Path]:
        """(certificate, key) paths of a PKI entry such as "ca" or "apiserver"."""
        return self.pki_dir / f"{name}.crt", self.pki_dir / f"{name}.key"

    @property
    def service_account_keys(self) -> tuple[pathlib.Path, pathlib.Path]:
        """(public key, private key) that verify and sign ServiceAccount tokens."""
        return self.pki_dir / "sa.pub", self.pki_dir / "sa.key"
