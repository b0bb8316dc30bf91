"""Workloads whose prompts repeat: a trace file replayed, multi-turn sessions, shared system
prompts. Each request carries its prompt's content ids (`WorkloadRequest.prefix_ids`, runs of
`prefix_block_tokens` tokens), so the engines' prefix caches and the gateway's prefix index see
what repeats.

Classes are assigned by tenant, as a deployment assigns them by API key: a trace request's
tenant is its second content id (in the Mooncake trace every prompt starts with the same block,
so the second one tells conversations apart), its only one when it has one, else its session;
a session's tenant in the generators; `class_for_tenant` maps tenants to classes the same way
every run.
"""

from __future__ import annotations

import dataclasses
import itertools
import zlib
from collections.abc import Sequence

import numpy as np

from sloserve.sim import trace_files, workload

# content ids the generators hand out never collide across calls of one generator
_ID_STRIDE = 1_000_000


def class_for_tenant(tenant: str, classes: Sequence[workload.ClassShare]) -> workload.ClassShare:
    """The class of `tenant`: a stable pick weighted by the classes' weights."""
    if not classes:
        raise ValueError("a workload needs at least one class")
    total = sum(share.weight for share in classes)
    point = (zlib.crc32(tenant.encode()) / 2**32) * total
    for share in classes:
        point -= share.weight
        if point < 0:
            return share
    return classes[-1]


def from_trace(
    entries: Sequence[trace_files.TraceEntry],
    *,
    classes: Sequence[workload.ClassShare] = workload.SCORPIO_CLASSES,
    time_scale: float = 1.0,
    max_requests: int | None = None,
) -> list[workload.WorkloadRequest]:
    """The first `max_requests` (None: all) requests of a trace, arrivals × `time_scale` (0.5
    replays twice as fast). A request's class is the one the file names (it must be one of
    `classes`), else its tenant's."""
    if not time_scale > 0:
        raise ValueError(f"time_scale must be above zero, got {time_scale!r}")
    if max_requests is not None and max_requests < 1:
        raise ValueError(f"max_requests must be at least 1 or None, got {max_requests!r}")
    by_name = {share.name: share for share in classes}
    chosen = entries if max_requests is None else entries[:max_requests]
    requests: list[workload.WorkloadRequest] = []
    for index, entry in enumerate(chosen):
        if entry.slo_class is not None:
            share = by_name.get(entry.slo_class)
            if share is None:
                raise ValueError(
                    f"trace request {index} names class {entry.slo_class!r}; the classes are "
                    f"{', '.join(by_name)}"
                )
        else:
            share = class_for_tenant(_tenant(entry, index), classes)
        session = entry.session
        if session is None and entry.prefix_ids:
            session = _tenant(entry, index)
        requests.append(
            workload.WorkloadRequest(
                request_id=f"req-{index:06d}",
                arrival_s=entry.offset_s * time_scale,
                prompt_tokens=entry.prompt_tokens,
                output_tokens=entry.output_tokens,
                slo_class=share,
                prefix_ids=entry.prefix_ids,
                prefix_block_tokens=entry.prefix_block_tokens,
                session_id=session,
            )
        )
    return requests


def _tenant(entry: trace_files.TraceEntry, index: int) -> str:
    if entry.prefix_ids:
        return f"prefix-{entry.prefix_ids[min(1, len(entry.prefix_ids) - 1)]}"
    if entry.session is not None:
        return entry.session
    return f"request-{index}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class MultiTurnSessions:
    """Chat sessions that resend their history: turn k's prompt is the system prompt, every
    earlier user message and answer, and a new user message.

    `sessions` start as a Poisson process of `session_rate_per_s`; each has `turns` turns, the
    next sent `think_time_s` (mean, exponential) after the previous answer would be read (its
    arrival plus `think_time_s`: arrivals do not wait for the simulated answer). Lengths in
    tokens: `system_tokens` per session, user messages and answers uniform in [mean/2,
    3·mean/2]. `unit_tokens`: the content-id granularity (lengths are rounded up to it).
    `tenants`: sessions belong to tenants round-robin; a tenant's sessions share its class.
    """

    sessions: int = 200
    turns: int = 5
    session_rate_per_s: float = 2.0
    think_time_s: float = 10.0
    system_tokens: int = 512
    user_tokens_mean: int = 256
    output_tokens_mean: int = 200
    unit_tokens: int = 64
    tenants: int = 12
    seed: int = 0

    def build(
        self, classes: Sequence[workload.ClassShare] = workload.SCORPIO_CLASSES
    ) -> list[workload.WorkloadRequest]:
        """The workload, sorted by arrival."""
        rng = np.random.default_rng(self.seed)
        ids = itertools.count(_ID_STRIDE)
        unit = self.unit_tokens
        requests: list[workload.WorkloadRequest] = []
        start = 0.0
        for session in range(self.sessions):
            start += float(rng.exponential(1.0 / self.session_rate_per_s))
            tenant = f"tenant-{session % self.tenants}"
            share = class_for_tenant(tenant, classes)
            history = [next(ids) for _ in range(_units(self.system_tokens, unit))]
            arrival = start
            for turn in range(self.turns):
                history.extend(
                    next(ids) for _ in range(_units(_around(rng, self.user_tokens_mean), unit))
                )
                output = _around(rng, self.output_tokens_mean)
                requests.append(
                    workload.WorkloadRequest(
                        request_id=f"s{session:05d}-t{turn:02d}",
                        arrival_s=arrival,
                        prompt_tokens=len(history) * unit,
                        output_tokens=output,
                        slo_class=share,
                        prefix_ids=tuple(history),
                        prefix_block_tokens=unit,
                        session_id=f"session-{session}",
                    )
                )
                # the answer joins the history (whole units: its last partial unit is padding)
                history.extend(next(ids) for _ in range(_units(output, unit)))
                arrival += float(rng.exponential(self.think_time_s))
        requests.sort(key=lambda request: request.arrival_s)
        return requests


@dataclasses.dataclass(frozen=True, kw_only=True)
class SharedSystemPrompts:
    """Single-turn requests of `tenants` tenants, each tenant's prompts starting with its own
    system prompt of `system_tokens` tokens followed by a fresh user part (uniform in [mean/2,
    3·mean/2]); Poisson arrivals at `rate_rps`, tenants drawn uniformly."""

    count: int = 2000
    rate_rps: float = 20.0
    tenants: int = 12
    system_tokens: int = 2048
    user_tokens_mean: int = 384
    output_tokens_mean: int = 200
    unit_tokens: int = 64
    seed: int = 0

    def build(
        self, classes: Sequence[workload.ClassShare] = workload.SCORPIO_CLASSES
    ) -> list[workload.WorkloadRequest]:
        """The workload, sorted by arrival."""
        rng = np.random.default_rng(self.seed)
        unit = self.unit_tokens
        system_units = _units(self.system_tokens, unit)
        systems = [
            tuple(range(tenant * _ID_STRIDE, tenant * _ID_STRIDE + system_units))
            for tenant in range(self.tenants)
        ]
        fresh = itertools.count(self.tenants * _ID_STRIDE)
        times = workload.arrival_times(
            count=self.count,
            rate_rps=self.rate_rps,
            process=workload.Arrivals.POISSON,
            rng=rng,
        )
        requests: list[workload.WorkloadRequest] = []
        for index, arrival in enumerate(times):
            tenant = int(rng.integers(0, self.tenants))
            user = tuple(
                next(fresh) for _ in range(_units(_around(rng, self.user_tokens_mean), unit))
            )
            content = systems[tenant] + user
            requests.append(
                workload.WorkloadRequest(
                    request_id=f"req-{index:06d}",
                    arrival_s=float(arrival),
                    prompt_tokens=len(content) * unit,
                    output_tokens=_around(rng, self.output_tokens_mean),
                    slo_class=class_for_tenant(f"tenant-{tenant}", classes),
                    prefix_ids=content,
                    prefix_block_tokens=unit,
                )
            )
        return requests


def _units(tokens: int, unit: int) -> int:
    return max(1, -(-tokens // unit))


def _around(rng: np.random.Generator, mean: int) -> int:
    return max(1, int(rng.integers(max(1, mean // 2), max(2, 3 * mean // 2 + 1))))
