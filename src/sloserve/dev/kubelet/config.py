"""How many simulated nodes to run, and what they look like."""

from __future__ import annotations

import dataclasses

from sloserve.dev.kubelet import addresses

DEFAULT_GPU_PRODUCT = "NVIDIA-H100-80GB-HBM3"


@dataclasses.dataclass(frozen=True)
class KubeletOptions:
    """Options of the local kubelet; every field maps to one command-line flag of
    `python -m sloserve.dev.kubelet` (see `to_args`)."""

    nodes: int = 2
    gpu_product: str = DEFAULT_GPU_PRODUCT
    gpus_per_node: int = 8
    cpus_per_node: int = 32
    memory_per_node: str = "256Gi"
    name_prefix: str = "gpu-node"
    # Restart back-off of crashed containers, seconds (a real kubelet's are 10 and 300).
    backoff_initial_s: float = 10.0
    backoff_max_s: float = 300.0
    pod_range: str = addresses.DEFAULT_POD_RANGE
    # Whether containers get private mount namespaces (where this process may create them);
    # False forces the KUBECONFIG fallback for ServiceAccount tokens (see mounts.py).
    mount_namespaces: bool = True

    def node_names(self) -> list[str]:
        return [f"{self.name_prefix}-{index}" for index in range(self.nodes)]

    def to_args(self) -> list[str]:
        """The command-line flags that reproduce these options."""
        args = []
        for field in dataclasses.fields(self):
            flag = "--" + field.name.replace("_", "-")
            args += [flag, str(getattr(self, field.name))]
        return args
