"""Which GPU product a node or a dataset is about, as the short key the predictor and the solo
catalogue use (`H100`, `H200`).

Nodes carry the product in NVIDIA GPU feature discovery's label `nvidia.com/gpu.product`
(`NVIDIA-H100-80GB-HBM3`, `NVIDIA-H200`); datasets in their device name (`NVIDIA H100 80GB HBM3`).
The key is the first word of the name that is letters then digits: the product family and
generation, which is what sets how a workload's readings look and how it slows beside others.

Pure: no I/O.
"""

from __future__ import annotations

import re

__all__ = ["GPU_PRODUCT_LABEL", "gpu_key"]

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"

_PRODUCT_WORD = re.compile(r"^[A-Z]{1,3}\d{2,4}[A-Z]?$")


def gpu_key(name: str | None) -> str | None:
    """`H100` for `NVIDIA-H100-80GB-HBM3` or `NVIDIA H100 80GB HBM3`; None when no word of
    `name` looks like a product (or `name` is None or empty)."""
    if not name:
        return None
    for word in re.split(r"[\s\-_]+", name.upper()):
        if _PRODUCT_WORD.match(word):
            return word
    return None
