"""In-flight work per engine, as the gateway knows it, corrected by what the engine reports.

The gateway's own accounting is exact for the requests it sent and instant; the engine's
`/metrics` are up to a scrape interval old but see everything, including work from other clients
or other gateway replicas. At each scrape the engine's excess over the gateway's count is
remembered as *external* requests, and every snapshot adds them (with the model's default TPOT
and the mean context of the gateway's own requests), so the scheduler neither overloads a shared
engine nor forgets its own work between scrapes. Free KV cache comes from the last scrape, when
the engine publishes its size (vLLM's `cache_config_info`). An engine that failed a request is
left out of routing until a scrape after the cooldown shows it alive.

Between scrapes, which requests wait on the engine is inferred from the gateway's own dispatches,
as vLLM schedules them: a request starts at once while the engine has fewer than `max_num_seqs`
requests, so only those beyond `max_num_seqs` wait, plus as many as the last scrape reported
waiting for other reasons (KV cache, token budget). A request sent is therefore *running* from
its dispatch — streamed or not — unless it is beyond the engine's slots; a stream's first token
confirms it started. Its prompt counts as still to prefill until its first token arrives or, for
a request whose tokens the gateway does not see (not streamed), until the first token the
scheduler predicted for it is due. A non-streamed request's generated tokens are estimated from
the time since then at the latency model's decode step, so that the TTFT guard can tell when it
will free its slot.

Snapshots are kept between decisions and rebuilt when requests come, start or go, at a scrape, or
once they are `context_refresh_s` old (contexts grow with every token; rebuilding for each token
would cost time proportional to the requests in flight, per token).

For online calibration each request also remembers when it was sent and whether it has had the
engine to itself, until its first token and throughout (no other request of the gateway there,
and none from other clients at a scrape): only such a request's times price one known piece of
work (`latency_calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sloserve.gateway import engine_metrics
from sloserve.scheduling import engine_state, latency_model, slo

_EXTERNAL_PREFIX = "external/"
_DEFAULT_EXTERNAL_CONTEXT_TOKENS = 1024
#: Metrics scrapes that must fail in a row before an engine is routed around (a failed request
#: takes it out at once).
SCRAPE_FAILURES_BEFORE_FAILED = 3


@dataclass
class _InFlight:
    tpot_s: float
    prompt_tokens: int
    max_tokens: int
    sequence: int
    first_token_due_s: float
    sent_s: float
    generated_tokens: int = 0
    started: bool = False
    """A token of it was seen: it is past its prefill."""
    alone_to_first_token: bool = True
    alone: bool = True


@dataclass(frozen=True, slots=True)
class Solitude:
    """When a request was sent, and whether it had its engine to itself until its first token
    and until now."""

    sent_s: float
    alone_to_first_token: bool
    alone: bool


class EngineLedger:
    """One engine's load. `url` is its base URL and its engine id in the scheduler."""

    def __init__(
        self,
        url: str,
        *,
        max_num_seqs: int,
        failure_cooldown_s: float,
        context_refresh_s: float = 0.05,
        latency: latency_model.LatencyModel | None = None,
    ) -> None:
        self.url = url
        self._max_num_seqs = max_num_seqs
        self._context_refresh_s = context_refresh_s
        self._latency = latency
        self._snapshot: engine_state.EngineState | None = None
        self._snapshot_key: tuple[float, float] = (0.0, 0.0)
        self._failure_cooldown_s = failure_cooldown_s
        self._own: dict[str, _InFlight] = {}
        self._external_requests = 0
        self._waiting_beyond_slots = 0
        self._sent = 0
        self._kv_free_tokens: int | None = None
        # the one request that has had the engine to itself so far, if any (calibration)
        self._alone_id: str | None = None
        self._failed_at_s: float | None = None
        self._scraped = False
        self._scrape_failures = 0
        self.max_model_len: int | None = None
        """The context limit the engine reported for the model, once asked."""
        self.asked_max_model_len = False

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

    def reachable(self) -> bool:
        """Whether the engine has answered a metrics scrape and not failed since."""
        return self._scraped and self._failed_at_s is None

    def set_latency(self, latency: latency_model.LatencyModel | None) -> None:
        """Estimate with `latency` from now on (online calibration's refit)."""
        self._latency = latency
        self._snapshot = None

    def add(
        self, request: slo.Request, *, first_token_due_s: float, sent_s: float | None = None
    ) -> None:
        """The gateway sent `request` here at `sent_s` (default: `first_token_due_s`); the
        scheduler predicted its first token by `first_token_due_s` (the dispatch time when it
        made no prediction)."""
        crowded = bool(self._own) or self._external_requests > 0
        self._share()
        self._own[request.request_id] = _InFlight(
            tpot_s=request.tpot_s,
            prompt_tokens=request.prompt_tokens,
            max_tokens=request.max_tokens,
            sequence=self._sent,
            first_token_due_s=first_token_due_s,
            sent_s=first_token_due_s if sent_s is None else sent_s,
            alone_to_first_token=not crowded,
            alone=not crowded,
        )
        if not crowded:
            self._alone_id = request.request_id
        self._sent += 1
        self._snapshot = None

    def progress(self, request_id: str, *, generated_tokens: int) -> bool:
        """The request has produced `generated_tokens` so far (its prefill is done once > 0).
        True when this is news that it started."""
        entry = self._own.get(request_id)
        if entry is None:
            return False
        entry.generated_tokens = generated_tokens
        if entry.started or generated_tokens == 0:
            return False
        entry.started = True
        self._snapshot = None
        return True

    def solitude(self, request_id: str) -> Solitude | None:
        """When the request was sent and whether it has been alone here (None: not here)."""
        entry = self._own.get(request_id)
        if entry is None:
            return None
        return Solitude(
            sent_s=entry.sent_s,
            alone_to_first_token=entry.alone_to_first_token,
            alone=entry.alone,
        )

    def mean_context_tokens(self) -> float:
        """The mean context (prompt and tokens so far) of the gateway's requests here."""
        own = self._own
        if not own:
            return float(_DEFAULT_EXTERNAL_CONTEXT_TOKENS)
        return sum(entry.prompt_tokens + entry.generated_tokens for entry in own.values()) / len(
            own
        )

    def _share(self) -> None:
        """Another request joins the engine: none there is alone any more. Only a request sent
        to an empty engine starts alone, so at most one is: no walk over the others."""
        alone = self._own.get(self._alone_id) if self._alone_id is not None else None
        self._alone_id = None
        if alone is not None:
            alone.alone = False
            if not alone.started:
                alone.alone_to_first_token = False

    def remove(self, request_id: str) -> None:
        if self._own.pop(request_id, None) is not None:
            self._snapshot = None

    def record_failure(self, *, now_s: float) -> None:
        """The engine failed a request: route around it until its cooldown has passed."""
        self._failed_at_s = now_s

    def record_scrape_failure(self, *, now_s: float) -> bool:
        """A metrics scrape failed or timed out. One slow scrape of a busy engine says little,
        and taking the only engine out of routing for a whole cooldown turns it into 503s: the
        engine counts as failed after `SCRAPE_FAILURES_BEFORE_FAILED` in a row. True when this
        failure is the one that took it out."""
        self._scrape_failures += 1
        if self._scrape_failures < SCRAPE_FAILURES_BEFORE_FAILED or self._failed_at_s is not None:
            return False
        self._failed_at_s = now_s
        return True

    def observe(self, load: engine_metrics.EngineLoad, *, now_s: float) -> None:
        """A successful scrape: remember the excess load and the waits that slots do not
        explain, and clear a failure past its cooldown."""
        own_total = len(self._own)
        self._external_requests = max(0, load.running + load.waiting - own_total)
        if self._external_requests:
            self._share()
        beyond_slots = max(0, own_total + self._external_requests - self._max_num_seqs)
        self._waiting_beyond_slots = max(0, load.waiting - beyond_slots)
        self._kv_free_tokens = load.kv_free_tokens()
        self._scraped = True
        self._scrape_failures = 0
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
        self._snapshot = self._build_snapshot(external_tpot_s, now_s)
        self._snapshot_key = (external_tpot_s, now_s)
        return self._snapshot

    def _build_snapshot(self, external_tpot_s: float, now_s: float) -> engine_state.EngineState:
        own = self._own
        external = self._external_requests
        not_started = [entry for entry in own.values() if not entry.started]
        # vLLM starts requests in arrival order while slots are free: those waiting are the
        # newest not yet seen started, beyond the slots plus the other waits last reported
        waiting_total = min(
            len(not_started) + external,
            max(0, len(own) + external - self._max_num_seqs) + self._waiting_beyond_slots,
        )
        own_waiting = min(len(not_started), waiting_total)
        external_waiting = waiting_total - own_waiting
        waiting = not_started[len(not_started) - own_waiting :]
        waiting_sequences = {entry.sequence for entry in waiting}
        step_s = self._decode_step_s(len(own) + external)
        running: list[engine_state.RunningRequest] = []
        queued_tokens = 0
        for request_id, entry in own.items():
            generated = entry.generated_tokens
            if entry.sequence in waiting_sequences:
                queued_tokens += entry.prompt_tokens
            elif not entry.started:
                if now_s < entry.first_token_due_s:
                    queued_tokens += entry.prompt_tokens
                elif step_s > 0:
                    generated = min(
                        entry.max_tokens - 1, int((now_s - entry.first_token_due_s) / step_s)
                    )
            running.append(
                engine_state.RunningRequest(
                    request_id=request_id,
                    tpot_s=entry.tpot_s,
                    context_tokens=entry.prompt_tokens + generated,
                    generated_tokens=generated,
                    max_tokens=entry.max_tokens,
                )
            )
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
            for index in range(external)
        )
        return engine_state.EngineState(
            engine_id=self.url,
            max_num_seqs=self._max_num_seqs,
            running=tuple(running),
            waiting_requests=own_waiting + external_waiting,
            queued_prefill_tokens=queued_tokens + external_waiting * context,
            kv_free_tokens=self._kv_free_tokens,
        )

    def _decode_step_s(self, batch: int) -> float:
        """The predicted decode step of the engine's batch (0 without a latency model)."""
        if self._latency is None or batch == 0:
            return 0.0
        contexts = [entry.prompt_tokens for entry in self._own.values()]
        mean_context = sum(contexts) / len(contexts) if contexts else 0.0
        return self._latency.decode_step_time_s(min(batch, self._max_num_seqs), mean_context)
