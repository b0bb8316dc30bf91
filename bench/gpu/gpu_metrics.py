"""NVML readings: the device's identity, and a background sampler of its metric time series.

The sampler reads the NVML counters a node exporter sees (utilization, memory, PCIe, power, clocks)
and, where the driver offers them, the GPU Performance Monitoring (GPM) metrics that correspond to
DCGM's profiling fields (SM activity and occupancy, tensor activity, DRAM bandwidth). A metric the
device refuses is left out of `metric_names` after one probe rather than recorded as zeros.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import pynvml  # type: ignore[import-untyped,import-not-found,unused-ignore]

MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    name: str
    memory_bytes: int
    driver: str


def device_info(index: int = 0) -> DeviceInfo:
    """Name, total memory and driver version of GPU `index`, as NVML reports them.

    Without a GPU driver (checking the scripts on a CPU) the device is named "cpu"."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return DeviceInfo(name="cpu", memory_bytes=0, driver="none")
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        name = pynvml.nvmlDeviceGetName(handle)
        return DeviceInfo(
            name=name.decode() if isinstance(name, bytes) else str(name),
            memory_bytes=int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
            driver=_text(pynvml.nvmlSystemGetDriverVersion()),
        )
    finally:
        pynvml.nvmlShutdown()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# GPM metric ids (nvml.h) and the names they are recorded under; the DCGM field each matches is
# DCGM_FI_PROF_GR_ENGINE_ACTIVE, SM_ACTIVE, SM_OCCUPANCY, PIPE_TENSOR_ACTIVE, DRAM_ACTIVE, PCIE_*.
GPM_METRICS: dict[str, int] = {
    "gpm_graphics_util_pct": 1,
    "gpm_sm_util_pct": 2,
    "gpm_sm_occupancy_pct": 3,
    "gpm_tensor_util_pct": 5,
    "gpm_dram_bw_util_pct": 10,
    "gpm_pcie_tx_mibps": 20,
    "gpm_pcie_rx_mibps": 21,
}


def _basic_readers(handle: object) -> dict[str, Callable[[], float]]:
    """One zero-argument reader per NVML metric; PCIe readers block ~20 ms each (NVML samples)."""

    def utilization() -> Any:
        return pynvml.nvmlDeviceGetUtilizationRates(handle)

    return {
        "sm_util_pct": lambda: float(utilization().gpu),
        "mem_util_pct": lambda: float(utilization().memory),
        "mem_used_gib": lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / (1024 * MIB),
        "pcie_tx_mbps": lambda: (
            pynvml.nvmlDeviceGetPcieThroughput(handle, pynvml.NVML_PCIE_UTIL_TX_BYTES) / 1000
        ),
        "pcie_rx_mbps": lambda: (
            pynvml.nvmlDeviceGetPcieThroughput(handle, pynvml.NVML_PCIE_UTIL_RX_BYTES) / 1000
        ),
        "power_w": lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000,
        "sm_clock_mhz": lambda: float(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)),
        "mem_clock_mhz": lambda: float(
            pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM)
        ),
        "temperature_c": lambda: float(
            pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)
        ),
    }


class MetricSampler:
    """Samples GPU `index` every `period_s` on a daemon thread until `stop()`.

    Each sample is (time.monotonic(), values in `metric_names` order); a reading that fails once
    the metric was accepted is stored as None. Use `between` to cut the series of a time window.
    """

    def __init__(self, *, period_s: float = 0.1, index: int = 0):
        self.period_s = period_s
        self._samples: list[tuple[float, list[float | None]]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError:
            # no GPU driver (a CPU check of the scripts): a sampler of no metrics
            self._nvml = False
            self._readers: dict[str, Callable[[], float]] = {}
            self._gpm: _GpmReader | None = None
            self.metric_names: list[str] = []
            self.rejected: list[str] = []
            return
        self._nvml = True
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self._readers = {
            name: reader
            for name, reader in _basic_readers(self._handle).items()
            if _readable(reader)
        }
        self._gpm = _GpmReader.open(self._handle)
        self.metric_names: list[str] = list(self._readers)
        if self._gpm is not None:
            self.metric_names += self._gpm.names
        self.rejected = sorted(set(_basic_readers(self._handle)) - set(self._readers))

    def start(self) -> MetricSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        if self._nvml:
            pynvml.nvmlShutdown()

    def between(self, start: float, stop: float) -> list[list[float | None]]:
        """Samples taken in [start, stop] (monotonic seconds), oldest first, without timestamps."""
        with self._lock:
            return [values for stamp, values in self._samples if start <= stamp <= stop]

    def _run(self) -> None:
        deadline = time.monotonic()
        while not self._stopping.is_set():
            stamp = time.monotonic()
            values: list[float | None] = [
                _read_or_none(reader) for reader in self._readers.values()
            ]
            if self._gpm is not None:
                values += self._gpm.read()
            with self._lock:
                self._samples.append((stamp, values))
            deadline += self.period_s
            self._stopping.wait(max(0.0, deadline - time.monotonic()))


def _readable(reader: Callable[[], float]) -> bool:
    try:
        reader()
    except pynvml.NVMLError:
        return False
    return True


def _read_or_none(reader: Callable[[], float]) -> float | None:
    try:
        return reader()
    except pynvml.NVMLError:
        return None


class _GpmReader:
    """GPM metrics between consecutive samples (the first read after opening has no interval)."""

    def __init__(self, handle: object, names: list[str]):
        self._handle = handle
        self.names = names
        self._previous = pynvml.nvmlGpmSampleAlloc()
        self._current = pynvml.nvmlGpmSampleAlloc()
        pynvml.nvmlGpmSampleGet(handle, self._previous)

    @classmethod
    def open(cls, handle: object) -> _GpmReader | None:
        """A reader of the GPM metrics the device supports, or None where GPM is unavailable."""
        try:
            if not pynvml.nvmlGpmQueryDeviceSupport(handle).isSupportedDevice:
                return None
            probe = cls(handle, list(GPM_METRICS))
            time.sleep(0.05)
            values = probe.read()
        except (pynvml.NVMLError, AttributeError):
            return None
        supported = [
            name for name, value in zip(GPM_METRICS, values, strict=True) if value is not None
        ]
        return cls(handle, supported) if supported else None

    def read(self) -> list[float | None]:
        try:
            pynvml.nvmlGpmSampleGet(self._handle, self._current)
            request = pynvml.c_nvmlGpmMetricsGet_t()
            request.version = pynvml.NVML_GPM_METRICS_GET_VERSION
            request.numMetrics = len(self.names)
            request.sample1 = self._previous
            request.sample2 = self._current
            for slot, name in enumerate(self.names):
                request.metrics[slot].metricId = GPM_METRICS[name]
            pynvml.nvmlGpmMetricsGet(request)
        except pynvml.NVMLError:
            return [None] * len(self.names)
        finally:
            self._previous, self._current = self._current, self._previous
        return [
            float(request.metrics[slot].value)
            if request.metrics[slot].nvmlReturn == pynvml.NVML_SUCCESS
            else None
            for slot in range(len(self.names))
        ]
