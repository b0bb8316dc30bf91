"""The KV cache as a pool of fixed-size blocks, with vLLM's automatic prefix caching.

Only counts are kept for a request's own blocks: the simulator needs to know whether a step's new
tokens fit, not where. Which request holds how many blocks is the scheduler's bookkeeping; this
pool guards the total.

Prefix caching (vLLM's automatic prefix caching): a full block of prompt tokens is known by a
hash chained over every block before it (`prefix_hashes.chain`), so equal hashes mean equal
prefixes. Once a request has computed a full prompt block the block is *registered* under its
hash; a later request whose prompt starts with the same blocks *acquires* them instead of
computing them again. A cached block is referenced by every running request that uses it; when
the last one lets go it stays cached but becomes free, at the end of an LRU queue, and is only
*evicted* (its content forgotten) when a new block is needed and no empty one is left. As in
vLLM, a request releases its blocks tail first, so the end of a prefix is evicted before its
beginning, and free cached blocks count as free in the usage figures.
"""

from __future__ import annotations

import collections


class BlockPool:
    """`total` blocks of `block_size` tokens each; never hands out more than it has."""

    def __init__(self, *, total: int, block_size: int) -> None:
        if total < 1 or block_size < 1:
            raise ValueError("a block pool needs at least one block of at least one token")
        self.total = total
        self.block_size = block_size
        self._used = 0
        # hash -> requests referencing the cached block (0: free, waiting in `_idle`)
        self._references: dict[int, int] = {}
        # cached blocks nobody references, least recently freed first
        self._idle: collections.OrderedDict[int, None] = collections.OrderedDict()
        self.evictions = 0

    @property
    def used(self) -> int:
        """Blocks held by requests (a cached block held by several counts once)."""
        return self._used

    @property
    def free(self) -> int:
        """Blocks not held by any request (empty, or cached and evictable)."""
        return self.total - self._used

    @property
    def cached(self) -> int:
        """Blocks whose content is cached under a hash, held or not."""
        return len(self._references)

    def allocate(self, blocks: int) -> None:
        """Hand out `blocks` private blocks, evicting the least recently freed cached blocks when
        no empty ones are left; raises RuntimeError if fewer are free (the scheduler checks
        first)."""
        if blocks < 0:
            raise ValueError(f"cannot allocate a negative number of blocks ({blocks})")
        if blocks > self.free:
            raise RuntimeError(f"allocating {blocks} KV blocks with only {self.free} free")
        empty = self.total - self._used - len(self._idle)
        for _ in range(blocks - empty):
            evicted, _ = self._idle.popitem(last=False)
            del self._references[evicted]
            self.evictions += 1
        self._used += blocks

    def release(self, blocks: int) -> None:
        """Take back `blocks` private blocks; raises RuntimeError if more than were handed out."""
        if blocks < 0 or blocks > self._used:
            raise RuntimeError(f"releasing {blocks} KV blocks with {self._used} in use")
        self._used -= blocks

    def cached_prefix(self, hashes: list[int], limit: int) -> tuple[int, int]:
        """(how many of the first `limit` hashes are cached in a row from the start, how many
        of those are free): acquiring them takes that many free blocks."""
        references = self._references
        found = 0
        idle = 0
        for block_hash in hashes[:limit]:
            count = references.get(block_hash)
            if count is None:
                break
            found += 1
            if count == 0:
                idle += 1
        return found, idle

    def acquire(self, hashes: list[int]) -> None:
        """Reference the cached blocks `hashes` (all cached: see `cached_prefix`)."""
        references = self._references
        for block_hash in hashes:
            count = references[block_hash]
            if count == 0:
                del self._idle[block_hash]
                self._used += 1
            references[block_hash] = count + 1

    def register(self, block_hash: int) -> bool:
        """A private block of a request now holds the prompt block `block_hash`: cache it,
        referenced by that request. False (the block stays private) when a block with that hash
        is already cached, as when two requests compute the same prefix at once."""
        if block_hash in self._references:
            return False
        self._references[block_hash] = 1
        return True

    def release_cached(self, hashes: list[int]) -> None:
        """Drop one reference to each cached block of `hashes` (a request's, in prompt order);
        blocks nobody references any more become free, the last of the prompt first in line
        for eviction."""
        references = self._references
        for block_hash in reversed(hashes):
            count = references[block_hash] - 1
            references[block_hash] = count
            if count == 0:
                self._idle[block_hash] = None
                self._used -= 1
