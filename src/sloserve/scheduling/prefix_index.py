"""Which engine probably holds which prompt blocks: the gateway's approximate prefix-cache index.

Engines do not tell a gateway what their prefix caches hold (vLLM publishes KV events only when
configured to), so the index learns from the gateway's own decisions: when a request is sent to
an engine, that engine will compute (or find) every full block of its prompt, so its block
hashes (`slo.Request.prefix_hashes`, chained: one hash stands for the whole prefix up to its
block) are recorded for that engine. Each engine's record is an LRU of at most its KV cache's
capacity in blocks, the least recently routed forgotten first — the way the engine's own cache
evicts the least recently freed blocks once new ones need the room. A lookup gives the tokens of
the longest recorded prefix, at most all but the prompt's last token (vLLM always computes one).

Pure and clock-free: it changes only through `record` and `forget_engine`, and reads no time.
"""

import collections
from collections.abc import Mapping

from sloserve.scheduling import attention_cost, slo


class PrefixIndex:
    """Per-engine LRU records of routed prompt blocks. `capacity_tokens`: an engine's KV cache
    size in tokens (all engines, unless `set_capacity` says otherwise for one)."""

    def __init__(self, *, capacity_tokens: int) -> None:
        if capacity_tokens < 1:
            raise ValueError(f"capacity_tokens must be at least 1, got {capacity_tokens!r}")
        self._capacity_tokens = capacity_tokens
        self._capacities: dict[str, int] = {}
        self._blocks: dict[str, collections.OrderedDict[int, None]] = {}
        # bumped by every change, so that callers may memoise lookups between changes
        self.version = 0

    def set_capacity(self, engine_id: str, capacity_tokens: int) -> None:
        """`engine_id`'s cache holds `capacity_tokens` tokens (from its cache configuration)."""
        if capacity_tokens < 1:
            raise ValueError(
                f"capacity_tokens of {engine_id!r} must be at least 1, got {capacity_tokens!r}"
            )
        self._capacities[engine_id] = capacity_tokens

    def record(self, request: slo.Request, engine_id: str) -> None:
        """`request` was sent to `engine_id`: its prompt blocks are now the most recent there."""
        hashes = request.prefix_hashes
        if not hashes or request.prefix_block_tokens < 1:
            return
        blocks = self._blocks.get(engine_id)
        if blocks is None:
            blocks = self._blocks[engine_id] = collections.OrderedDict()
        for block_hash in hashes:
            blocks[block_hash] = None
            blocks.move_to_end(block_hash)
        capacity = self._capacities.get(engine_id, self._capacity_tokens)
        limit = max(1, capacity // request.prefix_block_tokens)
        while len(blocks) > limit:
            blocks.popitem(last=False)
        self.version += 1

    def forget_engine(self, engine_id: str) -> None:
        """The engine restarted or left: nothing of it is cached any more."""
        if self._blocks.pop(engine_id, None) is not None:
            self.version += 1

    def cached_tokens(self, request: slo.Request, engine_id: str) -> int:
        """Prompt tokens of `request` probably cached on `engine_id`."""
        hashes = request.prefix_hashes
        blocks = self._blocks.get(engine_id)
        if not hashes or blocks is None:
            return 0
        found = 0
        for block_hash in hashes:
            if block_hash not in blocks:
                break
            found += 1
        return min(found * request.prefix_block_tokens, request.prompt_tokens - 1)

    def blocks_on(self, engine_id: str) -> int:
        """Blocks recorded for `engine_id`."""
        blocks = self._blocks.get(engine_id)
        return 0 if blocks is None else len(blocks)


class PrefixView:
    """What the TTFT guard and routing read of the index for the requests of one decision:
    cached tokens per engine, and the prefill they leave (the uncached tokens plus, in tokens,
    their attention over the cached ones: `attention_cost.equivalent_tokens`). Memoised until
    the index changes."""

    def __init__(
        self,
        index: PrefixIndex,
        *,
        ms_per_pair: float,
        ms_per_token: float,
        chunk_tokens: int = 0,
    ) -> None:
        self.index = index
        self._ms_per_pair = ms_per_pair
        self._ms_per_token = ms_per_token
        # the engines' prefill chunk (max_num_batched_tokens): a long prompt's later chunks
        # attend over its earlier ones
        self._chunk_tokens = chunk_tokens
        self._version = -1
        self._memo: dict[tuple[str, str], tuple[int, int]] = {}

    def _figures(self, request: slo.Request, engine_id: str) -> tuple[int, int]:
        if self._version != self.index.version:
            self._memo.clear()
            self._version = self.index.version
        key = (request.request_id, engine_id)
        found = self._memo.get(key)
        if found is None:
            cached = self.index.cached_tokens(request, engine_id)
            prefill = attention_cost.equivalent_tokens(
                new_tokens=request.prompt_tokens - cached,
                cached_tokens=cached,
                ms_per_pair=self._ms_per_pair,
                ms_per_token=self._ms_per_token,
                chunk_tokens=self._chunk_tokens,
            )
            found = self._memo[key] = (cached, prefill)
        return found

    def cached_tokens(self, request: slo.Request, engine_id: str) -> int:
        """Prompt tokens of `request` probably cached on `engine_id`."""
        return self._figures(request, engine_id)[0]

    def prefill_tokens(self, request: slo.Request, engine_id: str) -> int:
        """Fresh-prefill tokens that cost what `request` costs on `engine_id`."""
        if not request.prefix_hashes:
            return request.prompt_tokens
        return self._figures(request, engine_id)[1]

    def by_engine(
        self, request: slo.Request, engine_ids: list[str]
    ) -> tuple[Mapping[str, int], Mapping[str, int]]:
        """(cached tokens, prefill tokens) of `request` on each of `engine_ids`."""
        cached: dict[str, int] = {}
        prefill: dict[str, int] = {}
        for engine_id in engine_ids:
            figures = self._figures(request, engine_id)
            cached[engine_id] = figures[0]
            prefill[engine_id] = figures[1]
        return cached, prefill
