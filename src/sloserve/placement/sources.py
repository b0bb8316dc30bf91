"""Where a GPU workload's metric series come from when a node is scored.

- `CatalogueSource`: the measured solo series of the workload's kind (its pod annotation). Used
  for the pod being placed (it runs nowhere yet), in the local cluster (no GPU telemetry), and
  whenever telemetry has no series for a pod.
- `PrometheusSource`: a running pod's recent DCGM exporter series (dcgm-exporter labels GPU series
  with the `pod` and `namespace` using the GPU), falling back to the catalogue.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Protocol

import httpx
import numpy as np

from sloserve.placement.catalogue import SoloCatalogue
from sloserve.placement.dataset import IDLE_KIND
from sloserve.placement.features import PreparedSeries
from sloserve.placement.metrics import DCGM_FIELDS
from sloserve.placement.series import MetricSeries
from sloserve.placement.workloads import GpuWorkload

__all__ = ["CatalogueSource", "PrometheusSource", "ResolvedSeries", "SeriesSource"]


@dataclasses.dataclass(frozen=True, eq=False)
class ResolvedSeries:
    """A workload's prepared series and where it came from (shown in reasons and status)."""

    workload: str
    prepared: PreparedSeries
    origin: str


class SeriesSource(Protocol):
    """Resolves workloads to series in the predictor's metrics and steps."""

    def idle(self, mode: str, gpu: str | None = None) -> PreparedSeries: ...

    async def resolve(
        self, workload: GpuWorkload, mode: str, *, running: bool, gpu: str | None = None
    ) -> ResolvedSeries:
        """`running`: whether the workload already runs (telemetry may exist for it); `gpu`:
        the node's GPU product key (None: unknown, the catalogue's default GPU)."""
        ...


class CatalogueSource:
    """Series from the solo catalogue, prepared once per (mode, kind)."""

    def __init__(self, catalogue: SoloCatalogue, *, metrics: Sequence[str], steps: int) -> None:
        self.catalogue = catalogue
        self._metrics = tuple(metrics)
        self._steps = steps
        self._prepared: dict[tuple[str, str, str], PreparedSeries] = {}

    def prepare(self, series: MetricSeries) -> PreparedSeries:
        return PreparedSeries.of(series, metrics=self._metrics, steps=self._steps)

    def kind_series(self, mode: str, kind: str, gpu: str | None = None) -> PreparedSeries:
        """The prepared solo series of `kind` on `gpu`, or on another GPU when `gpu` lacks it
        under `mode`; raises KeyError listing the known kinds."""
        chosen = self.catalogue.gpu_or_default(gpu)
        if not self.catalogue.has(mode, kind, chosen):
            elsewhere = self.catalogue.measured_on(mode, kind)
            chosen = elsewhere[0] if elsewhere else chosen
        key = (chosen, mode, kind)
        if key not in self._prepared:
            self._prepared[key] = self.prepare(self.catalogue.series(mode, kind, key[0]))
        return self._prepared[key]

    def idle(self, mode: str, gpu: str | None = None) -> PreparedSeries:
        return self.kind_series(mode, IDLE_KIND, gpu)

    def resolve_now(
        self, workload: GpuWorkload, mode: str, gpu: str | None = None
    ) -> ResolvedSeries:
        """The workload's kind's series on the node's GPU. A kind measured only on another GPU
        uses that GPU's series (utilizations read alike across GPUs; the GPU feature still says
        which GPU the node has). A workload without a known kind is taken to be the heaviest
        kind, the cautious guess, and the origin says so."""
        chosen = self.catalogue.gpu_or_default(gpu)
        kind = workload.kind
        if kind is not None and self.catalogue.has(mode, kind, chosen):
            return ResolvedSeries(
                workload.key, self.kind_series(mode, kind, chosen), f"kind {kind}"
            )
        elsewhere = self.catalogue.measured_on(mode, kind) if kind is not None else ()
        if kind is not None and elsewhere:
            series = self.kind_series(mode, kind, elsewhere[0])
            return ResolvedSeries(
                workload.key, series, f"kind {kind} as measured on {elsewhere[0]}"
            )
        heaviest = self.catalogue.heaviest_kind(mode, chosen)
        declared = "no kind" if kind is None else f"unknown kind {kind}"
        origin = f"{declared}: assumed {heaviest}"
        return ResolvedSeries(workload.key, self.kind_series(mode, heaviest, chosen), origin)

    async def resolve(
        self, workload: GpuWorkload, mode: str, *, running: bool, gpu: str | None = None
    ) -> ResolvedSeries:
        return self.resolve_now(workload, mode, gpu)


class PrometheusSource:
    """Running pods' DCGM series from the Prometheus HTTP API over the last `window_s`, sampled
    every `step_s`; the catalogue for everything else.

    A pod's DCGM series are those of the GPU it uses: when other pods share that GPU they include
    their load too, which makes its neighbours look heavier than alone (a cautious error).
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        fallback: CatalogueSource,
        metrics: Sequence[str],
        window_s: float = 120.0,
        step_s: float = 5.0,
    ) -> None:
        unknown = [name for name in metrics if name not in DCGM_FIELDS]
        if unknown:
            raise ValueError(f"no DCGM field is known for metrics {unknown}")
        self._client = client
        self._fallback = fallback
        self._metrics = tuple(metrics)
        self._window_s = window_s
        self._step_s = step_s

    def idle(self, mode: str, gpu: str | None = None) -> PreparedSeries:
        return self._fallback.idle(mode, gpu)

    async def resolve(
        self, workload: GpuWorkload, mode: str, *, running: bool, gpu: str | None = None
    ) -> ResolvedSeries:
        if not running:
            return self._fallback.resolve_now(workload, mode, gpu)
        series = await self._query(workload)
        if series is None:
            resolved = self._fallback.resolve_now(workload, mode, gpu)
            return dataclasses.replace(
                resolved, origin=f"no DCGM series in Prometheus, {resolved.origin}"
            )
        return ResolvedSeries(workload.key, self._fallback.prepare(series), "DCGM via Prometheus")

    async def _query(self, workload: GpuWorkload) -> MetricSeries | None:
        names = sorted({DCGM_FIELDS[metric].series for metric in self._metrics})
        selector = (
            f'{{__name__=~"{"|".join(names)}",'
            f'namespace="{workload.namespace}",pod="{workload.name}"}}'
        )
        end = time.time()
        response = await self._client.get(
            "/api/v1/query_range",
            params={
                "query": selector,
                "start": end - self._window_s,
                "end": end,
                "step": self._step_s,
            },
        )
        response.raise_for_status()
        by_series: dict[str, list[float]] = {}
        for result in response.json()["data"]["result"]:
            # A pod on several GPUs has one series per GPU; the first stands for all of them.
            by_series.setdefault(
                result["metric"]["__name__"], [float(value) for _, value in result["values"]]
            )
        if any(DCGM_FIELDS[metric].series not in by_series for metric in self._metrics):
            return None
        length = min(len(by_series[DCGM_FIELDS[m].series]) for m in self._metrics)
        if length < 2:
            return None
        columns = [
            np.array(by_series[DCGM_FIELDS[m].series][-length:]) * DCGM_FIELDS[m].scale
            for m in self._metrics
        ]
        return MetricSeries(self._metrics, np.stack(columns, axis=1).astype(np.float32))
