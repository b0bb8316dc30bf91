"""The KV cache as a pool of fixed-size blocks.

Only counts are kept: the simulator needs to know whether a step's new tokens fit, not where.
Which request holds how many blocks is the scheduler's bookkeeping; this pool guards the total.
"""

from __future__ import annotations


class BlockPool:
    """`total` blocks of `block_size` tokens each; never hands out more than it has."""

    def __init__(self, *, total: int, block_size: int) -> None:
        if total < 1 or block_size < 1:
            raise ValueError("a block pool needs at least one block of at least one token")
        self.total = total
        self.block_size = block_size
        self._used = 0

    @property
    def used(self) -> int:
        """Blocks held by requests."""
        return self._used

    @property
    def free(self) -> int:
        """Blocks not held by any request."""
        return self.total - self._used

    def allocate(self, blocks: int) -> None:
        """Hand out `blocks`; raises RuntimeError if fewer are free (the scheduler checks first)."""
        if blocks < 0:
            raise ValueError(f"cannot allocate a negative number of blocks ({blocks})")
        if blocks > self.free:
            raise RuntimeError(f"allocating {blocks} KV blocks with only {self.free} free")
        self._used += blocks

    def release(self, blocks: int) -> None:
        """Take back `blocks`; raises RuntimeError if more than were handed out."""
        if blocks < 0 or blocks > self._used:
            raise RuntimeError(f"releasing {blocks} KV blocks with {self._used} in use")
        self._used -= blocks
