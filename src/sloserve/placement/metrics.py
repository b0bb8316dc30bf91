"""The GPU metrics the interference predictor reads, and where a cluster exposes each of them.

Names are those of the co-location dataset (NVML readings, see docs/colocation-dataset.md). In a
cluster the same quantities come from the DCGM exporter; `DCGM_FIELDS` maps each metric to its
exporter series and the factor that converts the exporter's unit into the dataset's.
"""

from __future__ import annotations

import dataclasses

__all__ = ["DCGM_FIELDS", "DcgmField", "SharingMode"]


@dataclasses.dataclass(frozen=True)
class DcgmField:
    """A DCGM exporter series and the factor turning its value into the dataset's unit."""

    series: str
    scale: float = 1.0


#: Dataset metric name -> the DCGM exporter series carrying the same quantity.
DCGM_FIELDS: dict[str, DcgmField] = {
    "sm_util_pct": DcgmField("DCGM_FI_DEV_GPU_UTIL"),
    "mem_util_pct": DcgmField("DCGM_FI_DEV_MEM_COPY_UTIL"),
    # The exporter reports framebuffer memory in MiB.
    "mem_used_gib": DcgmField("DCGM_FI_DEV_FB_USED", 1.0 / 1024),
    # Bytes per second in DCGM; the dataset records MB/s (NVML's KB/s divided by 1000).
    "pcie_tx_mbps": DcgmField("DCGM_FI_PROF_PCIE_TX_BYTES", 1e-6),
    "pcie_rx_mbps": DcgmField("DCGM_FI_PROF_PCIE_RX_BYTES", 1e-6),
    "power_w": DcgmField("DCGM_FI_DEV_POWER_USAGE"),
    "sm_clock_mhz": DcgmField("DCGM_FI_DEV_SM_CLOCK"),
    "mem_clock_mhz": DcgmField("DCGM_FI_DEV_MEM_CLOCK"),
    "temperature_c": DcgmField("DCGM_FI_DEV_GPU_TEMP"),
    # Profiling fields are ratios in [0, 1]; the dataset's GPM readings are percentages.
    "gpm_graphics_util_pct": DcgmField("DCGM_FI_PROF_GR_ENGINE_ACTIVE", 100.0),
    "gpm_sm_util_pct": DcgmField("DCGM_FI_PROF_SM_ACTIVE", 100.0),
    "gpm_sm_occupancy_pct": DcgmField("DCGM_FI_PROF_SM_OCCUPANCY", 100.0),
    "gpm_tensor_util_pct": DcgmField("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", 100.0),
    "gpm_dram_bw_util_pct": DcgmField("DCGM_FI_PROF_DRAM_ACTIVE", 100.0),
    # GPM reports PCIe in MiB/s; DCGM in bytes/s.
    "gpm_pcie_tx_mibps": DcgmField("DCGM_FI_PROF_PCIE_TX_BYTES", 1.0 / (1024 * 1024)),
    "gpm_pcie_rx_mibps": DcgmField("DCGM_FI_PROF_PCIE_RX_BYTES", 1.0 / (1024 * 1024)),
}


class SharingMode:
    """How co-located workloads share a GPU: the model's `mode` input is 0 or 1."""

    TIMESLICE = "timeslice"
    MPS = "mps"
    ALL = (TIMESLICE, MPS)

    @staticmethod
    def code(mode: str) -> float:
        """The model's encoding of a sharing mode; an unknown mode raises ValueError."""
        if mode not in SharingMode.ALL:
            raise ValueError(f"sharing mode {mode!r} is not one of {SharingMode.ALL}")
        return 1.0 if mode == SharingMode.MPS else 0.0
