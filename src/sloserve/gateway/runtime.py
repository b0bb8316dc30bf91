"""One model's scheduling at run time: the scheduler, its engines' ledgers, and its dispatcher.

The scheduler (from `sloserve.scheduling`) makes every decision; this module feeds it engine
snapshots and the real monotonic clock, and carries its answers to the waiting requests. Dispatch
runs at once on each arrival, completion and engine scrape, and on a short timer while requests
wait (their slack shrinks as time passes, which the TTFT guard re-checks).

The model's context limit is its definition's, else the smallest an engine reports on its
`/v1/models` (asked once per engine, after its first good scrape). The model is ready for
traffic once one of its engines answers its metrics (`readiness_problem`).

With a latency model, the runtime calibrates it online (`latency_calibration`): each scrape and
each relayed stream of one sequence is shown to the model's calibration, and whenever that
republishes its model, the scheduler (guards, meter, routing) and the engines' ledgers predict
with the new one. `tokenizer` is the model's own tokenizer once loaded (`Runtimes` loads it), for
counting prompt tokens; None while there is none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx

from sloserve.gateway import (
    datastore,
    engine_ledger,
    engine_metrics,
    latency_calibration,
    model_tokenizer,
    tasks,
)
from sloserve.scheduling import (
    calibration,
    coming_capacity,
    engine_state,
    latency_model,
    outcomes,
    policy,
    scheduler,
    slo,
)
from sloserve.scheduling.routing import plugins

log = logging.getLogger(__name__)


class MonotonicClock:
    """The scheduler's clock in the gateway: `time.monotonic()`, in seconds."""

    def now(self) -> float:
        return time.monotonic()


class RequestRejectedError(Exception):
    """The scheduler rejected a request that was waiting in its queue."""

    def __init__(self, rejection: outcomes.Rejected) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


class ModelRuntime:
    """Scheduling state of one model. Used only from the event loop."""

    def __init__(
        self,
        *,
        record: datastore.ModelRecord,
        policy_config: policy.PolicyConfig,
        latency: latency_model.LatencyModel | None,
        clock: MonotonicClock,
        client: httpx.AsyncClient,
        recheck_interval_s: float,
        scrape_interval_s: float,
        failure_cooldown_s: float,
        routing_plugins: dict[str, plugins.Factory] | None = None,
        prefix_capacity_tokens: int | None = None,
        calibrate: bool = True,
        calibration_settings: calibration.CalibrationSettings | None = None,
        default_start_time_s: float = 0.0,
    ) -> None:
        self.record = record
        # The expected engine start while the model's own is unmeasured (the gateway's
        # `scheduling.cold_start_s`); 0 counts no starting engine.
        self._default_start_time_s = default_start_time_s
        self.coming = coming_capacity.ComingCapacity()
        self.clock = clock
        self._latency = latency
        self.calibration = (
            None
            if latency is None
            else latency_calibration.ModelCalibration(
                latency, calibration_settings, enabled=calibrate
            )
        )
        """The online calibration of the model's latency model (None: the policy predicts
        nothing)."""
        self.tokenizer: model_tokenizer.ModelTokenizer | None = None
        self.tokenizer_status = "none named: prompt tokens are estimated"
        """Where the tokenizer came from, or why prompt tokens are estimated."""
        self.scheduler = scheduler.Scheduler(
            model=record.model,
            policy_config=policy_config,
            clock_source=clock,
            latency=latency,
            routing_plugins=routing_plugins,
            prefix_capacity_tokens=prefix_capacity_tokens,
        )
        self._client = client
        self._recheck_interval_s = recheck_interval_s
        self._scrape_interval_s = scrape_interval_s
        self._failure_cooldown_s = failure_cooldown_s
        self.ledgers: dict[str, engine_ledger.EngineLedger] = {}
        self._waiters: dict[str, asyncio.Future[outcomes.Dispatch]] = {}
        self._wake = asyncio.Event()
        # set whenever the engines or their health may have changed: a request held for want
        # of any engine (scale from zero) looks again
        self._engines_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.update(record)

    def start(self) -> None:
        self._tasks = [
            tasks.start(self._dispatch_loop(), name=f"dispatch {self.record.model}"),
            tasks.start(self._scrape_loop(), name=f"scrape {self.record.model}"),
        ]

    async def stop(self) -> None:
        """Stop dispatching. Requests still queued are rejected (no engines); running ones go on
        to their end."""
        self._settle(self.scheduler.dispatch([]))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def update(self, record: datastore.ModelRecord) -> None:
        """Follow a changed record: engines come and go; a gone engine's requests keep running
        until they end, but nothing new is sent there."""
        self.record = record
        max_num_seqs = record.definition.max_num_seqs
        for url in record.engines:
            ledger = self.ledgers.get(url)
            if ledger is None:
                self.ledgers[url] = engine_ledger.EngineLedger(
                    url,
                    max_num_seqs=max_num_seqs,
                    failure_cooldown_s=self._failure_cooldown_s,
                    latency=self._latency,
                )
            else:
                ledger.max_num_seqs = max_num_seqs
        for url in list(self.ledgers):
            if url not in record.engines and self.ledgers[url].inflight == 0:
                self._drop_ledger(url)
        self._expect_coming()
        self._wake.set()
        self._engines_changed.set()

    def start_time_s(self) -> float:
        """The expected start of one of the model's engines: measured on its pods when the
        operator has, else the gateway's setting (0: unknown, so nothing waits for a start)."""
        measured = self.record.definition.start_time_s
        return measured if measured is not None else self._default_start_time_s

    def _expect_coming(self) -> None:
        desired = self.record.definition.desired_replicas
        start_s = self.start_time_s()
        starting = 0 if desired is None or start_s <= 0 else desired - len(self.record.engines)
        self.coming.expect(max(0, starting), now_s=self.clock.now(), start_time_s=start_s)

    def promise_coming(self, request: slo.Request) -> coming_capacity.Promise | None:
        """Admit `request`, which the ready engines cannot give its first token in time, to an
        engine that is starting, when that one can once ready (`coming_capacity`); None when
        none can, or when the policy predicts no latency."""
        if self._latency is None:
            return None
        prefill_s = self._latency.prompt_prefill_time_s(request.prompt_tokens)
        return self.coming.promise(
            now_s=self.clock.now(),
            deadline_s=request.arrival_s + request.ttft_s,
            prefill_s=prefill_s,
        )

    async def wait_for_any_engine(self, *, timeout_s: float) -> bool:
        """Wait, at most `timeout_s`, until some engine may take work; whether one may."""
        return await self.wait_for_more_engines(than=0, timeout_s=timeout_s)

    async def wait_for_more_engines(self, *, than: int, timeout_s: float) -> bool:
        """Wait, at most `timeout_s`, until more than `than` engines may take work; whether
        they may."""
        deadline_s = self.clock.now() + timeout_s
        while len(self.engine_snapshots()) <= than:
            remaining_s = deadline_s - self.clock.now()
            if remaining_s <= 0:
                return False
            self._engines_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._engines_changed.wait(), timeout=remaining_s)
        return True

    def engine_snapshots(self) -> list[engine_state.EngineState]:
        """Snapshots of the engines that may take new work."""
        default = self.record.definition.classes
        external_tpot_s = default.classes[default.default_class].tpot_s
        now_s = self.clock.now()
        return [
            ledger.snapshot(external_tpot_s=external_tpot_s, now_s=now_s)
            for url, ledger in self.ledgers.items()
            if url in self.record.engines and ledger.healthy()
        ]

    def max_model_len(self) -> int | None:
        """The model's context limit, None while unknown."""
        configured = self.record.definition.max_model_len
        if configured is not None:
            return configured
        reported = [
            ledger.max_model_len
            for url, ledger in self.ledgers.items()
            if url in self.record.engines and ledger.max_model_len is not None
        ]
        return min(reported) if reported else None

    def readiness_problem(self) -> str | None:
        """Why the model cannot take traffic now (no engines, or none answering), else None."""
        engines = [url for url in self.record.engines if url in self.ledgers]
        model = self.record.model
        if not engines:
            return f"model {model!r} has no engines"
        if not any(self.ledgers[url].reachable() for url in engines):
            return (
                f"model {model!r}: none of its {len(engines)} engine(s) answers its metrics "
                f"({', '.join(engines)})"
            )
        return None

    def submit(self, request: slo.Request) -> outcomes.Admitted | outcomes.Rejected:
        """Hand a new request to the scheduler; an admitted one is dispatched at once if it can."""
        snapshots = self.engine_snapshots()
        decision = self.scheduler.submit(request, snapshots)
        if isinstance(decision, outcomes.Admitted):
            self._waiters[request.request_id] = asyncio.get_running_loop().create_future()
            if self.scheduler.queue_length == 1:
                self.dispatch_now(snapshots)
            else:
                # Others wait already: one dispatch per loop turn serves every arrival of that
                # turn, where one per arrival would cost time proportional to the queue each.
                self._wake.set()
        return decision

    async def wait_for_engine(self, request_id: str) -> outcomes.Dispatch:
        """The dispatch of an admitted request; raises RequestRejectedError if it is rejected
        while it waits. Cancelling the wait leaves the request queued: call `cancel`."""
        waiter = self._waiters[request_id]
        if waiter.done():
            # Dispatched on arrival, the usual case: no need to wait, or to shield the wait.
            del self._waiters[request_id]
            return waiter.result()
        try:
            return await asyncio.shield(waiter)
        finally:
            if waiter.done() and self._waiters.get(request_id) is waiter:
                del self._waiters[request_id]

    def cancel(self, request_id: str) -> outcomes.Finished | None:
        """The client went away: end the request as cancelled wherever it is (None if it had
        already ended)."""
        return self._end(request_id, outcomes.FinishOutcome.CANCELLED, output_tokens=None)

    def finish(
        self, request_id: str, outcome: outcomes.FinishOutcome, *, output_tokens: int | None
    ) -> outcomes.Finished | None:
        return self._end(request_id, outcome, output_tokens=output_tokens)

    def progress(self, request_id: str, engine_url: str, *, generated_tokens: int) -> None:
        """The request streamed `generated_tokens` so far. Its first token frees a waiting slot on
        the engine, which may let a held request go."""
        ledger = self.ledgers.get(engine_url)
        started = ledger is not None and ledger.progress(
            request_id, generated_tokens=generated_tokens
        )
        if started and self.scheduler.queue_length:
            self._wake.set()

    def observe_stream(
        self, request: slo.Request, *, first_token_s: float, last_token_s: float, tokens: int
    ) -> None:
        """A stream of one sequence reached its end (still in its engine's ledger): show what
        it took to the calibration."""
        calibrated = self.calibration
        engine_url = self.scheduler.running.get(request.request_id)
        if calibrated is None or engine_url is None:
            return
        ledger = self.ledgers.get(engine_url)
        seen = None if ledger is None else ledger.solitude(request.request_id)
        if seen is None:
            return
        changed = calibrated.observe_stream(
            latency_calibration.StreamObservation(
                engine=engine_url,
                prompt_tokens=request.prompt_tokens,
                sent_s=seen.sent_s,
                first_token_s=first_token_s,
                last_token_s=last_token_s,
                tokens=tokens,
                alone_to_first_token=seen.alone_to_first_token,
                alone_throughout=seen.alone,
            )
        )
        if changed:
            self._use_calibrated()

    def _use_calibrated(self) -> None:
        """Predict with the calibration's model from now on, everywhere."""
        assert self.calibration is not None
        model = self.calibration.model
        self._latency = model
        self.scheduler.set_latency(model)
        for ledger in self.ledgers.values():
            ledger.set_latency(model)

    def _drop_ledger(self, url: str) -> None:
        del self.ledgers[url]
        if self.calibration is not None:
            self.calibration.forget_engine(url)

    def engine_failed(self, request_id: str, engine_url: str) -> None:
        """The engine failed the request before its first byte: keep the engine out of routing
        for a while and let the scheduler retry the request elsewhere if its deadline allows."""
        ledger = self.ledgers.get(engine_url)
        if ledger is not None:
            ledger.remove(request_id)
            ledger.record_failure(now_s=self.clock.now())
        self.scheduler.requeue(request_id)
        self._waiters[request_id] = asyncio.get_running_loop().create_future()
        self.dispatch_now()

    def dispatch_now(self, snapshots: list[engine_state.EngineState] | None = None) -> None:
        """Ask the scheduler what to send now and act on its answers. `snapshots`: the engines'
        state, when the caller has just taken it."""
        if not self.scheduler.queue_length:
            return
        if snapshots is None:
            snapshots = self.engine_snapshots()
        self._settle(self.scheduler.dispatch(snapshots))

    def _settle(self, decisions: list[scheduler.Decision]) -> None:
        """Carry the scheduler's decisions to the requests waiting for them."""
        for decision in decisions:
            request_id = decision.request.request_id
            waiter = self._waiters.get(request_id)
            if isinstance(decision, outcomes.Dispatch):
                self.ledgers[decision.engine_id].add(
                    decision.request,
                    first_token_due_s=decision.at_s + (decision.predicted_ttft_s or 0.0),
                    sent_s=decision.at_s,
                )
            if waiter is None or waiter.done():
                log.error("scheduler decided on %s, which nobody waits for", request_id)
                continue
            if isinstance(decision, outcomes.Dispatch):
                waiter.set_result(decision)
            else:
                waiter.set_exception(RequestRejectedError(decision))

    def _end(
        self, request_id: str, outcome: outcomes.FinishOutcome, *, output_tokens: int | None
    ) -> outcomes.Finished | None:
        waiter = self._waiters.pop(request_id, None)
        if waiter is not None and not waiter.done():
            waiter.cancel()
        engine_url = self.scheduler.running.get(request_id)
        if not self.scheduler.holds(request_id):
            return None
        if engine_url is None:
            # Still queued: the scheduler knows only one way out of its queue.
            outcome = outcomes.FinishOutcome.CANCELLED
        finished = self.scheduler.finish(request_id, outcome, output_tokens=output_tokens)
        if engine_url is not None:
            ledger = self.ledgers.get(engine_url)
            if ledger is not None:
                ledger.remove(request_id)
                if ledger.inflight == 0 and engine_url not in self.record.engines:
                    self._drop_ledger(engine_url)
        if self.scheduler.queue_length:
            self._wake.set()
        return finished

    async def _dispatch_loop(self) -> None:
        while True:
            timeout = self._recheck_interval_s if self.scheduler.queue_length else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()
            self.dispatch_now()

    async def _scrape_loop(self) -> None:
        while True:
            await asyncio.gather(*(self._scrape(ledger) for ledger in list(self.ledgers.values())))
            self._wake.set()
            self._engines_changed.set()
            await asyncio.sleep(self._scrape_interval_s)

    async def _scrape(self, ledger: engine_ledger.EngineLedger) -> None:
        try:
            load = await engine_metrics.scrape(
                self._client, ledger.url, timeout_s=self._scrape_interval_s
            )
        except (httpx.HTTPError, ValueError) as error:
            if ledger.record_scrape_failure(now_s=self.clock.now()):
                log.warning(
                    "engine %s: metrics unavailable %d times in a row (%s); routing around it",
                    ledger.url,
                    engine_ledger.SCRAPE_FAILURES_BEFORE_FAILED,
                    error,
                )
            return
        ledger.observe(load, now_s=self.clock.now())
        calibrated = self.calibration
        if calibrated is not None and calibrated.observe_scrape(
            ledger.url, load, context_tokens=ledger.mean_context_tokens()
        ):
            self._use_calibrated()
        if not ledger.asked_max_model_len and self.record.definition.max_model_len is None:
            ledger.asked_max_model_len = True
            try:
                ledger.max_model_len = await engine_metrics.max_model_len(
                    self._client, ledger.url, self.record.model, timeout_s=self._scrape_interval_s
                )
            except (httpx.HTTPError, ValueError) as error:
                # asked again after the next good scrape
                ledger.asked_max_model_len = False
                log.info("engine %s: no model list (%s)", ledger.url, error)
