"""Automatic prefix caching in the engine core: reuse of cached prompt blocks, LRU eviction under
KV pressure, prefill for the uncached part only, vLLM's counters, and the flag that turns it off."""

from __future__ import annotations

import pytest
from tests.engine import engine_helpers

from sloserve.engine import config, core, events, requests, timing
from sloserve.scheduling import prefix_blocks

BLOCK = 16


def _engine(*, num_gpu_blocks: int = 256, caching: bool = True) -> core.EngineCore:
    engine_config = config.EngineConfig(
        max_num_seqs=8,
        max_num_batched_tokens=256,
        num_gpu_blocks=num_gpu_blocks,
        block_size=BLOCK,
        max_model_len=min(1024, num_gpu_blocks * BLOCK),
        enable_prefix_caching=caching,
    )
    return core.EngineCore(
        engine_config, timing.StepTimer(engine_helpers.PROFILE), token_events=False
    )


def _hashes(units: list[int], prompt: int) -> tuple[int, ...]:
    return prefix_blocks.chain_hashes(
        units, unit_tokens=BLOCK, prompt_tokens=prompt, block_tokens=BLOCK
    )


def _serve(
    engine: core.EngineCore, request_id: str, prompt: int, units: list[int], at: float
) -> requests.RequestStats:
    """Run one request alone to its end; its stats."""
    engine.add_request(
        requests.RequestSpec(
            request_id=request_id,
            prompt_tokens=prompt,
            output_tokens=2,
            block_hashes=_hashes(units, prompt),
        ),
        at=at,
    )
    finished = [e for e in engine_helpers.run_to_idle(engine) if isinstance(e, events.Finished)]
    assert [e.request_id for e in finished] == [request_id]
    return finished[0].stats


def test_a_repeated_prompt_reuses_all_but_its_last_block() -> None:
    engine = _engine()
    first = _serve(engine, "a", 160, list(range(10)), at=0.0)
    second = _serve(engine, "b", 160, list(range(10)), at=engine.now + 1)
    assert first.cached_tokens == 0
    # vLLM computes at least the last token, so the last full block is computed again
    assert second.cached_tokens == 144
    assert second.ttft < first.ttft


def test_a_shared_prefix_is_reused_up_to_the_first_different_block() -> None:
    engine = _engine()
    _serve(engine, "a", 160, list(range(10)), at=0.0)
    # blocks 0-3 equal, block 4 differs: blocks 5-9 cannot be reused even though their content
    # ids are equal, since a block's hash covers everything before it
    other = [0, 1, 2, 3, 99, 5, 6, 7, 8, 9]
    stats = _serve(engine, "b", 160, other, at=engine.now + 1)
    assert stats.cached_tokens == 4 * BLOCK


def test_a_partial_last_block_is_not_cached() -> None:
    engine = _engine()
    _serve(engine, "a", 40, [1, 2, 3], at=0.0)
    # 40 tokens fill two blocks of 16; the 8 tokens after them are never cached
    stats = _serve(engine, "b", 60, [1, 2, 3, 4], at=engine.now + 1)
    assert stats.cached_tokens == 2 * BLOCK


def test_chained_hashes_name_whole_prefixes_at_any_unit_size() -> None:
    coarse = prefix_blocks.chain_hashes([7, 8], unit_tokens=64, prompt_tokens=100, block_tokens=16)
    # 100 tokens: six full blocks of 16, four from unit 7 and two from unit 8
    assert len(coarse) == 6
    same_start = prefix_blocks.chain_hashes(
        [7, 9], unit_tokens=64, prompt_tokens=100, block_tokens=16
    )
    assert coarse[:4] == same_start[:4]
    assert coarse[4] != same_start[4]
    fine = prefix_blocks.chain_hashes(
        list(range(40)), unit_tokens=1, prompt_tokens=40, block_tokens=16
    )
    assert len(fine) == 2
    assert prefix_blocks.matched_blocks(coarse, set(same_start[:5])) == 4


def test_cached_blocks_nobody_holds_are_evicted_least_recently_freed_first() -> None:
    # 40 blocks: room for two 320-token prompts' blocks and little else
    engine = _engine(num_gpu_blocks=40)
    _serve(engine, "a", 320, list(range(100, 120)), at=0.0)
    _serve(engine, "b", 320, list(range(200, 220)), at=engine.now + 1)
    # a third prompt needs 20 free blocks: it evicts a's (freed first) and keeps b's
    _serve(engine, "c", 320, list(range(300, 320)), at=engine.now + 1)
    assert engine.snapshot().prefix_cache_evictions > 0
    again_b = _serve(engine, "b2", 320, list(range(200, 220)), at=engine.now + 1)
    again_a = _serve(engine, "a2", 320, list(range(100, 120)), at=engine.now + 1)
    assert again_b.cached_tokens > 0
    assert again_a.cached_tokens == 0


def test_free_cached_blocks_count_as_free_kv() -> None:
    engine = _engine()
    _serve(engine, "a", 160, list(range(10)), at=0.0)
    snapshot = engine.snapshot()
    assert snapshot.kv_blocks_used == 0
    assert snapshot.kv_usage == 0.0


def test_requests_running_together_share_cached_blocks() -> None:
    engine = _engine()
    _serve(engine, "warm", 160, list(range(10)), at=0.0)
    now = engine.now + 1
    for name in ("x", "y"):
        engine.add_request(
            requests.RequestSpec(
                request_id=name,
                prompt_tokens=160,
                output_tokens=50,
                block_hashes=_hashes(list(range(10)), 160),
            ),
            at=now,
        )
    engine.advance(engine.next_event_time() or now)
    # each holds its blocks, 9 of them the shared cached ones, counted once
    held = engine.held_blocks("x")
    assert held == engine.held_blocks("y") > 9
    assert engine.snapshot().kv_blocks_used == 9 + 2 * (held - 9)
    engine_helpers.run_to_idle(engine)
    assert engine.snapshot().kv_blocks_used == 0


def test_prefill_time_counts_only_the_uncached_tokens_plus_attention_over_the_cache() -> None:
    engine = _engine()
    timer = engine.timer
    cold = _serve(engine, "a", 512, list(range(32)), at=0.0)
    warm = _serve(engine, "b", 512, list(range(32)), at=engine.now + 1)
    step = timer.step_seconds(prefill_tokens=16, decode_batch=0, decode_context=0.0)
    with_attention = timer.step_seconds(
        prefill_tokens=16, decode_batch=0, decode_context=0.0, prefill_attended=16 * 496
    )
    assert with_attention >= step
    assert abs(warm.ttft - with_attention) < 1e-9
    assert cold.ttft > warm.ttft


def test_the_counters_follow_vllm_queries_and_hits_in_prompt_tokens() -> None:
    engine = _engine()
    _serve(engine, "a", 160, list(range(10)), at=0.0)
    _serve(engine, "b", 160, list(range(10)), at=engine.now + 1)
    snapshot = engine.snapshot()
    assert snapshot.prefix_cache_queries == 320
    assert snapshot.prefix_cache_hits == 144


def test_turned_off_nothing_is_reused_or_counted() -> None:
    engine = _engine(caching=False)
    _serve(engine, "a", 160, list(range(10)), at=0.0)
    stats = _serve(engine, "b", 160, list(range(10)), at=engine.now + 1)
    assert stats.cached_tokens == 0
    assert engine.snapshot().prefix_cache_queries == 0


def test_a_waiting_request_counts_only_its_uncached_tokens_as_queued_prefill() -> None:
    engine = _engine()
    _serve(engine, "a", 160, list(range(10)), at=0.0)
    engine.add_request(
        requests.RequestSpec(
            request_id="b",
            prompt_tokens=160,
            output_tokens=2,
            block_hashes=_hashes(list(range(10)), 160),
        ),
        at=engine.now + 1,
    )
    assert engine.snapshot().queued_prefill_tokens == 16


def test_more_hashes_than_full_blocks_are_refused() -> None:
    engine = _engine()
    with pytest.raises(ValueError, match="block hashes"):
        engine.add_request(
            requests.RequestSpec(
                request_id="a", prompt_tokens=20, output_tokens=1, block_hashes=(1, 2)
            ),
            at=0.0,
        )
