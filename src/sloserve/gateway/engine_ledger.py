"""In-flight work per engine, as the gateway knows it, corrected by what the engine reports.

The gateway's own accounting is exact for the requests it sent and instant; the engine's
`/metrics` are a second old but see everything, including work from other clients or other
gateway replicas. At each scrape the engine's excess over the gateway's count is remembered as
*external* requests, and every snapshot adds them (with the model's default TPOT and the mean
context of the gateway's own requests), so the scheduler neither overloads a shared engine nor
forgets its own work between scrapes. Free KV cache comes from the last scrape, when the engine
publishes its size (vLLM's `cache_config_info`). An engine that failed a request is left out of
routing until a scrape after the cooldown shows it alive.

Which requests still wait for their prefill is also the engine's to say: a request sent before the
last scrape and not yet seen producing a token counts as waiting only as far as the engine then
reported waiting requests (vLLM counts a request being prefilled as running); one sent since the
scrape counts as waiting until its first token arrives. Counting every request without a token seen
would take delays in delivering first tokens for a full engine, and hold work back for nothing.

Snapshots are kept between decisions and rebuilt when requests come, start or go, at a scrape, or
once they are `context_refresh_s` old (contexts grow with every token; rebuilding for each token
would cost time proportional to the requests in flight, per token).
"""

from __future__ import annotations

from dataclasses import dataclass

from sloserve.gateway import engine_metrics
from sloserve.scheduling import engine_state, slo

_EXTERNAL_PREFIX = "external/"
_DEFAULT_EXTERNAL_CONTEXT_TOKENS = 1024


@dataclass
class _InFlight:
    tpot_s: float
    prompt_tokens: int
    sequence: int
    generated_tokens: int = 0
    started: bool = False


class EngineLedger:
    """One engine's load. `url` is its base URL and its engine id in the scheduler."""

    def __init__(
        self,
        url: str,
        *,
        max_num_seqs: int,
        failure_cooldown_s: float,
        context_refresh_s: float = 0.05,
    ) -> None:
        self.url = url
        self._max_num_seqs = max_num_seqs
        self._context_refresh_s = context_refresh_s
        self._snapshot: engine_state.EngineState | None = None
        self._snapshot_key: tuple[float, float] = (0.0, 0.0)
        self._failure_cooldown_s = failure_cooldown_s
        self._own: dict[str, _InFlight] = {}
        self._external_requests = 0
        self._external_waiting = 0
        self._sent = 0
        self._sent_before_scrape = 0
        self._own_waiting_at_scrape = 0
        self._kv_free_tokens: int | None = None
        self._failed_at_s: float | None = None

    @property
    def max_num_seqs(self) -> int:
        return self._max_num_seqs

    @max_num_seqs.setter
    def max_num_seqs(self, value: int) -> None:
        self._max_num_seqs = value
        self._snapshot = None

    @property
    def inflight(self) -> int:
        """Requests the gateway has on this engine."""
        return len(self._own)

    def healthy(self) -> bool:
        return self._failed_at_s is None

    def add(self, request: slo.Request) -> None:
        self._own[request.request_id] = _InFlight(
            tpot_s=request.tpot_s, prompt_tokens=request.prompt_tokens, sequence=self._sent
        )
        self._sent += 1
        self._snapshot = None

    def progress(self, request_id: str, *, generated_tokens: int) -> bool:
        """The request has produced `generated_tokens` so far (its prefill is done once > 0).
        True when this is news that it started: the engine has one request fewer waiting."""
        entry = self._own.get(request_id)
        if entry is None:
            return False
        entry.generated_tokens = generated_tokens
        if entry.started or generated_tokens == 0:
            return False
        entry.started = True
        self._snapshot = None
        return True

    def remove(self, request_id: str) -> None:
        if self._own.pop(request_id, None) is not None:
            self._snapshot = None

    def record_failure(self, *, now_s: float) -> None:
        self._failed_at_s = now_s

    def observe(self, load: engine_metrics.EngineLoad, *, now_s: float) -> None:
        """A successful scrape: remember the excess load and clear a failure past its cooldown."""
        own_total = len(self._own)
        own_waiting = sum(1 for entry in self._own.values() if not entry.started)
        self._external_requests = max(0, load.running + load.waiting - own_total)
        self._external_waiting = min(self._external_requests, max(0, load.waiting - own_waiting))
        self._own_waiting_at_scrape = min(own_waiting, load.waiting)
        self._sent_before_scrape = self._sent
        self._kv_free_tokens = load.kv_free_tokens()
        self._snapshot = None
        if self._failed_at_s is not None and now_s - self._failed_at_s >= self._failure_cooldown_s:
            self._failed_at_s = None

    def snapshot(self, *, external_tpot_s: float, now_s: float) -> engine_state.EngineState:
        """The engine's state for one scheduling decision."""
        cached = self._snapshot
        if (
            cached is not None
            and self._snapshot_key[0] == external_tpot_s
            and now_s - self._snapshot_key[1] < self._context_refresh_s
        ):
            return cached
        self._snapshot = self._build_snapshot(external_tpot_s)
        self._snapshot_key = (external_tpot_s, now_s)
        return self._snapshot

    def _waiting(self) -> list[_InFlight]:
        """Own requests taken to wait for their prefill (see the module docstring)."""
        not_started = [entry for entry in self._own.values() if not entry.started]
        fresh = [entry for entry in not_started if entry.sequence >= self._sent_before_scrape]
        stale = [entry for entry in not_started if entry.sequence < self._sent_before_scrape]
        # The engine starts the older first, so the newest of them are the ones still waiting.
        still_waiting = min(len(stale), self._own_waiting_at_scrape)
        return fresh + stale[len(stale) - still_waiting :]

    def _build_snapshot(self, external_tpot_s: float) -> engine_state.EngineState:
        running = [
            engine_state.RunningRequest(
                request_id=request_id,
                tpot_s=entry.tpot_s,
                context_tokens=entry.prompt_tokens + entry.generated_tokens,
            )
            for request_id, entry in self._own.items()
        ]
        waiting = self._waiting()
        context = (
            round(sum(r.context_tokens for r in running) / len(running))
            if running
            else _DEFAULT_EXTERNAL_CONTEXT_TOKENS
        )
        running.extend(
            engine_state.RunningRequest(
                request_id=f"{_EXTERNAL_PREFIX}{index}",
                tpot_s=external_tpot_s,
                context_tokens=context,
            )
            for index in range(self._external_requests)
        )
        return engine_state.EngineState(
            engine_id=self.url,
            max_num_seqs=self._max_num_seqs,
            running=tuple(running),
            waiting_requests=len(waiting) + self._external_waiting,
            queued_prefill_tokens=sum(entry.prompt_tokens for entry in waiting)
            + self._external_waiting * context,
            kv_free_tokens=self._kv_free_tokens,
        )
