"""Every submitted request ends in exactly one terminal outcome, whatever the interleaving of
submit, dispatch, finish, cancel, requeue and the passage of time, under every preset policy."""

import collections

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from sloserve.scheduling import clock, engine_state, outcomes, policy, request_queue, scheduler

MODEL = "llama-8b"
ENGINE_IDS = ("e0", "e1")


def _machine(policy_name, latency, classes, make_request):
    class SchedulerLifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.clock = clock.ManualClock()
            self.scheduler = scheduler.Scheduler(
                model=MODEL,
                policy_config=policy.preset(policy_name),
                clock_source=self.clock,
                latency=latency,
            )
            self.on_engine: dict[str, dict[str, engine_state.RunningRequest]] = {
                engine_id: {} for engine_id in ENGINE_IDS
            }
            self.queued: set[str] = set()
            self.running: dict[str, str] = {}
            self.endings: collections.Counter[str] = collections.Counter()
            self.submitted = 0

        def _engines(self, up: bool) -> list[engine_state.EngineState]:
            if not up:
                return []
            return [
                engine_state.EngineState(
                    engine_id=engine_id,
                    max_num_seqs=3,
                    running=tuple(self.on_engine[engine_id].values()),
                )
                for engine_id in ENGINE_IDS
            ]

        def _ended(self, request_id: str) -> None:
            self.endings[request_id] += 1

        @rule(
            class_index=st.integers(0, 2),
            prompt_tokens=st.integers(1, 30_000),
            max_tokens=st.integers(1, 2000),
            tpot_override_s=st.none() | st.floats(0.001, 0.2),
            engines_up=st.booleans(),
        )
        def submit(self, class_index, prompt_tokens, max_tokens, tpot_override_s, engines_up):
            request_id = f"r{self.submitted:04d}"
            self.submitted += 1
            request = make_request(
                request_id,
                slo_class=classes[class_index],
                arrival_s=self.clock.now(),
                prompt_tokens=prompt_tokens,
                max_tokens=max_tokens,
                tpot_target_s=tpot_override_s,
            )
            decision = self.scheduler.submit(request, self._engines(engines_up))
            if isinstance(decision, outcomes.Rejected):
                self._ended(request_id)
            else:
                self.queued.add(request_id)

        @rule(engines_up=st.booleans())
        def dispatch(self, engines_up):
            for decision in self.scheduler.dispatch(self._engines(engines_up)):
                request_id = decision.request.request_id
                assert request_id in self.queued, f"{request_id} decided but not queued"
                self.queued.remove(request_id)
                if isinstance(decision, outcomes.Rejected):
                    self._ended(request_id)
                else:
                    self.running[request_id] = decision.engine_id
                    self.on_engine[decision.engine_id][request_id] = engine_state.RunningRequest(
                        request_id=request_id,
                        tpot_s=decision.request.tpot_s,
                        context_tokens=decision.request.prompt_tokens,
                    )

        @precondition(lambda self: self.running)
        @rule(data=st.data(), outcome=st.sampled_from(outcomes.FinishOutcome))
        def finish_running(self, data, outcome):
            request_id = data.draw(st.sampled_from(sorted(self.running)))
            output_tokens = data.draw(st.integers(0, 2000))
            self.scheduler.finish(request_id, outcome, output_tokens=output_tokens)
            del self.on_engine[self.running.pop(request_id)][request_id]
            self._ended(request_id)

        @precondition(lambda self: self.queued)
        @rule(data=st.data())
        def cancel_queued(self, data):
            request_id = data.draw(st.sampled_from(sorted(self.queued)))
            self.scheduler.finish(request_id, outcomes.FinishOutcome.CANCELLED)
            self.queued.remove(request_id)
            self._ended(request_id)

        @precondition(lambda self: self.running)
        @rule(data=st.data())
        def requeue_running(self, data):
            request_id = data.draw(st.sampled_from(sorted(self.running)))
            self.scheduler.requeue(request_id)
            del self.on_engine[self.running.pop(request_id)][request_id]
            self.queued.add(request_id)

        @rule(seconds=st.floats(0, 20))
        def advance_time(self, seconds):
            self.clock.advance(seconds)

        @invariant()
        def no_request_ends_twice(self):
            assert all(count == 1 for count in self.endings.values())

        @invariant()
        def every_request_is_in_exactly_one_place(self):
            ended = set(self.endings)
            assert not (self.queued & ended)
            assert not (set(self.running) & ended)
            assert len(self.queued) + len(self.running) + len(ended) == self.submitted

        @invariant()
        def scheduler_agrees_on_what_is_live(self):
            assert {r.request_id for r in self.scheduler.queued} == self.queued
            assert dict(self.scheduler.running) == self.running

        @invariant()
        def queue_keeps_its_order(self):
            queued = self.scheduler.queued
            if self.scheduler.policy.order is request_queue.QueueOrder.DEADLINE:
                deadlines = [request.deadline_s for request in queued]
                assert deadlines == sorted(deadlines)
            else:
                arrivals = [request.arrival_s for request in queued]
                assert arrivals == sorted(arrivals)

        def teardown(self):
            for request_id in sorted(self.queued):
                self.scheduler.finish(request_id, outcomes.FinishOutcome.CANCELLED)
                self._ended(request_id)
            for request_id in sorted(self.running):
                self.scheduler.finish(request_id, outcomes.FinishOutcome.SERVED)
                self._ended(request_id)
            assert sum(self.endings.values()) == self.submitted
            assert all(count == 1 for count in self.endings.values())
            assert self.scheduler.queued == ()
            assert not self.scheduler.running

    return SchedulerLifecycle


@pytest.mark.parametrize("policy_name", policy.PRESET_NAMES)
def test_every_request_ends_exactly_once(policy_name, latency, classes, make_request):
    machine = _machine(policy_name, latency, classes, make_request)

    run_state_machine_as_test(
        machine, settings=settings(max_examples=60, stateful_step_count=40, deadline=None)
    )
