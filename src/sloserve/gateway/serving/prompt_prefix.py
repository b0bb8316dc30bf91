"""A request's prompt as chained block hashes, for the scheduler's prefix index.

The gateway has no tokenizer, so a text prompt is cut into runs of `block_tokens` ×
`chars_per_token` characters, each named by a stable digest of its text (the same in every
gateway process and replica, unlike Python's salted string hash); token-id prompts are cut into
`block_tokens` ids. Either way `scheduling.prefix_blocks.chain_hashes` chains them, so two prompts
share a block's hash exactly when they share everything up to its end. Only full blocks count:
an engine caches only full blocks. A chat prompt is its messages' roles and texts in order, which
is what a chat template puts first.
"""

from __future__ import annotations

import hashlib

from sloserve.scheduling import prefix_blocks


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def prefix_hashes(
    content: str | list[int],
    *,
    prompt_tokens: int,
    block_tokens: int,
    chars_per_token: float,
) -> tuple[int, ...]:
    """The chained hashes of the full `block_tokens`-token blocks of a prompt (`content`: its
    text, or its token ids) of about `prompt_tokens` tokens."""
    if isinstance(content, list):
        return prefix_blocks.chain_hashes(
            content, unit_tokens=1, prompt_tokens=prompt_tokens, block_tokens=block_tokens
        )
    chunk = max(1, round(block_tokens * chars_per_token))
    units = [
        _digest(content[start : start + chunk])
        for start in range(0, len(content) - chunk + 1, chunk)
    ]
    return prefix_blocks.chain_hashes(
        units, unit_tokens=block_tokens, prompt_tokens=prompt_tokens, block_tokens=block_tokens
    )
