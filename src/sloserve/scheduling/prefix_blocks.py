"""Prompt content as chained block hashes, the way vLLM's prefix cache names KV blocks.

A prompt is described by *content units*: consecutive runs of `unit_tokens` tokens, each named by
an integer id (equal ids, equal tokens). Token ids are units of one token; the Mooncake trace's
`hash_ids` are units of 512 tokens. A prompt is cut into blocks of `block_tokens` tokens; each
*full* block gets a hash chained over the blocks before it, hash(previous hash, the block's
content), so two prompts share the hash of block k exactly when their first k + 1 blocks are
equal. A partial last block has no hash: vLLM caches only full blocks.

Pure and deterministic: Python hashes tuples of integers the same way in every process.
"""

from collections.abc import Sequence

# the chain's seed, so that the first block's hash is not the hash of its bare content
_ROOT = 0x5105E7


def chain_hashes(
    units: Sequence[int], *, unit_tokens: int, prompt_tokens: int, block_tokens: int
) -> tuple[int, ...]:
    """The chained hashes of the full `block_tokens` blocks of a prompt of `prompt_tokens`
    tokens whose content is `units` (covering its first len(units) × unit_tokens tokens; blocks
    beyond them have no known content and get no hash).

    One of `unit_tokens` and `block_tokens` must divide the other. Raises ValueError otherwise,
    or for sizes below 1.
    """
    if unit_tokens < 1 or block_tokens < 1:
        raise ValueError(
            f"unit_tokens ({unit_tokens}) and block_tokens ({block_tokens}) must be at least 1"
        )
    covered = min(prompt_tokens, len(units) * unit_tokens)
    blocks = covered // block_tokens
    hashes: list[int] = []
    parent = _ROOT
    if unit_tokens % block_tokens == 0:
        per_unit = unit_tokens // block_tokens
        for block in range(blocks):
            unit, offset = divmod(block, per_unit)
            parent = hash((parent, units[unit], offset))
            hashes.append(parent)
    elif block_tokens % unit_tokens == 0:
        per_block = block_tokens // unit_tokens
        for block in range(blocks):
            start = block * per_block
            parent = hash((parent, *units[start : start + per_block]))
            hashes.append(parent)
    else:
        raise ValueError(
            f"unit_tokens ({unit_tokens}) and block_tokens ({block_tokens}) must divide one "
            "another: the blocks are cut from whole units"
        )
    return tuple(hashes)


def matched_blocks(hashes: Sequence[int], known: "set[int] | dict[int, None]") -> int:
    """How many of `hashes` are in `known` in a row from the first: the cached prefix, since
    a chained hash stands for the whole prefix up to its block."""
    found = 0
    for block_hash in hashes:
        if block_hash not in known:
            break
        found += 1
    return found
