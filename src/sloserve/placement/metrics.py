"""The GPU metrics the interference predictor reads, and where a cluster exposes each of them.

Names are those of the co-location dataset (NVML readings, see docs/colocation-dataset.md). In a
cluster the same quantities come from the DCGM exporter; `DCGM_FIELDS` maps each metric to its
exporter series and the factor that converts the exporter's unit into the dataset's.
"""

from __future__ import annotations

import dataclasses
import re

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
    """How co-located workloads share a GPU: time-slicing (`timeslice`), MPS (`mps`), or MPS
    with every client limited to a share of the SMs through CUDA_MPS_ACTIVE_THREAD_PERCENTAGE
    (`mps_t50`: 50%). The models read a mode as two numbers: `code` (0 time-slicing, 1 MPS of
    either kind) and `thread_fraction` (the limit as a fraction; 1 without one)."""

    TIMESLICE = "timeslice"
    MPS = "mps"
    ALL = (TIMESLICE, MPS)

    @staticmethod
    def limited(percent: int) -> str:
        """The mode of MPS with clients limited to `percent` of the SMs (100: no limit)."""
        if not 1 <= percent <= 100:
            raise ValueError(f"an MPS thread percentage must be 1 to 100, not {percent}")
        return SharingMode.MPS if percent == 100 else f"{SharingMode.MPS}_t{percent}"

    @staticmethod
    def _percent(mode: str) -> int | None:
        if mode == SharingMode.MPS:
            return 100
        match = re.fullmatch(r"mps_t(\d{1,3})", mode)
        if match and 1 <= int(match.group(1)) <= 100:
            return int(match.group(1))
        return None

    @staticmethod
    def code(mode: str) -> float:
        """The models' encoding of a sharing mode; an unknown mode raises ValueError."""
        if mode == SharingMode.TIMESLICE:
            return 0.0
        if SharingMode._percent(mode) is None:
            raise ValueError(
                f"sharing mode {mode!r} is not one of {SharingMode.ALL} or mps_tNN (NN percent)"
            )
        return 1.0

    @staticmethod
    def thread_fraction(mode: str) -> float:
        """The MPS thread limit of `mode` as a fraction of the SMs; 1 when there is none."""
        SharingMode.code(mode)
        percent = SharingMode._percent(mode)
        return 1.0 if percent is None else percent / 100.0
