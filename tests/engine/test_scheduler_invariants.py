"""Whatever arrives, every request ends exactly once with all its tokens, in order, and the KV
cache is never overdrawn and is empty at the end (property-based, over every policy)."""

from __future__ import annotations

from engine_helpers import build_engine, spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloserve.engine import config, events

_arrival = st.tuples(
    st.floats(min_value=0.0, max_value=0.5),  # arrival time
    st.integers(min_value=1, max_value=300),  # prompt tokens
    st.integers(min_value=1, max_value=120),  # output tokens
    st.integers(min_value=0, max_value=3),  # priority
    st.sampled_from([None, 0.02, 0.03, 0.05, 0.1]),  # TPOT target
    st.booleans(),  # aborted after arrival
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrivals=st.lists(_arrival, min_size=1, max_size=25),
    policy=st.sampled_from(list(config.Policy)),
    blocks=st.integers(min_value=28, max_value=80),
    budget=st.sampled_from([32, 64, 256]),
    token_events=st.booleans(),
)
def test_every_request_ends_once_with_its_tokens_and_the_cache_is_released(
    arrivals: list[tuple[float, int, int, int, float | None, bool]],
    policy: config.Policy,
    blocks: int,
    budget: int,
    token_events: bool,
) -> None:
    engine = build_engine(
        max_num_seqs=8,
        max_num_batched_tokens=budget,
        num_gpu_blocks=blocks,
        max_model_len=420,
        policy=policy,
        token_events=token_events,
    )
    produced: list[events.EngineEvent] = []
    aborted: set[str] = set()
    to_abort: list[str] = []
    outputs: dict[str, int] = {}
    for index, (at, prompt, output, priority, tpot, abort) in enumerate(
        sorted(arrivals, key=lambda arrival: arrival[0])
    ):
        produced.extend(engine.advance(at))
        # requests marked for abort are dropped when the next one arrives, wherever they are
        for request_id in to_abort:
            if engine.abort_request(request_id, at=at):
                aborted.add(request_id)
        to_abort.clear()
        request_id = f"r{index}"
        engine.add_request(spec(request_id, prompt, output, priority=priority, tpot_s=tpot), at=at)
        outputs[request_id] = output
        if abort:
            to_abort.append(request_id)
        assert engine.snapshot().kv_blocks_used <= blocks
    while (due := engine.next_event_time(horizon=engine.now + 0.05)) is not None:
        produced.extend(engine.advance(max(due, engine.now)))
        assert engine.snapshot().kv_blocks_used <= blocks

    done = [e for e in produced if isinstance(e, events.Finished)]
    assert sorted(e.request_id for e in done) == sorted(set(outputs) - aborted)
    for event in done:
        assert event.stats.output_tokens == outputs[event.request_id]
        assert event.stats.arrival <= event.stats.first_scheduled <= event.stats.first_token
        assert event.stats.first_token <= event.stats.finished
    if token_events:
        for request_id in set(outputs) - aborted:
            indices = [
                0 if isinstance(e, events.FirstToken) else e.index
                for e in produced
                if e.request_id == request_id and isinstance(e, events.FirstToken | events.Token)
            ]
            assert indices == list(range(outputs[request_id]))
    times = [e.time for e in produced]
    assert times == sorted(times)
    load = engine.snapshot()
    assert (load.num_running, load.num_waiting, load.kv_blocks_used) == (0, 0, 0)
