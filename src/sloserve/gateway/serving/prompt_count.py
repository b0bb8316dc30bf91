"""How many tokens a request's prompt is, and how that was known.

Three ways, best first, named by `method` (counted per model in
`sloserve_prompt_token_counts_total{method}`):

- `token_ids`: the client sent token ids; they are counted.
- `tokenizer`: the model's own tokenizer (`model_tokenizer`), its chat template applied to a chat
  request.
- `estimate`: characters / `chars_per_token`, when the gateway has no tokenizer for the model (or
  its chat template refused the conversation, which the engine will then refuse too).

A batch prompt (`prompt` as a list of strings or of token-id lists) is that many sequences, each
prefilled (and given `n` choices) by the engine: `total` sums every member, which is what the
scheduler charges the engine and the TTFT guard predicts, while `longest` is the longest member,
which is what the context limit applies to (each member is its own sequence there). An estimate
is checked against the context limit at `longest_floor`, a count no tokenizer goes below (twice
the characters per token), so that an estimate never refuses a prompt that fits.

Counting with a tokenizer costs time in proportion to the prompt (bench/gateway/prompt_count.py:
on a heavily loaded two-core machine, 0.13 ms for 86 tokens, 5.6 ms for 931 and 79 ms for 8,978,
against 3–6 µs for the estimate), so a prompt beyond `INLINE_CHARACTERS` is counted in a worker
thread (`count_prompt_off_loop`; the library lets go of the GIL while it encodes): the event loop
goes on relaying other streams meanwhile. The time counts against the request's deadline, as
its arrival was stamped before.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

import jinja2

from sloserve.gateway import model_tokenizer
from sloserve.gateway.serving import schemas

log = logging.getLogger(__name__)

Method = Literal["token_ids", "tokenizer", "estimate"]
METHODS: tuple[Method, ...] = ("token_ids", "tokenizer", "estimate")

# The context check's floor on an estimate: no tokenizer packs more than twice the characters
# per token the estimate assumes.
LOWER_BOUND_FACTOR = 2.0

#: Longest prompt (characters) counted on the event loop; longer ones go to a worker thread.
INLINE_CHARACTERS = 16_384


@dataclass(frozen=True, slots=True)
class PromptCount:
    """`total`: tokens of every member; `longest`: of the longest member; `longest_floor`: a
    count of the longest member no tokenizer goes below (equal to `longest` unless estimated);
    `members`: how many sequences the prompt is (1, or a batch's length)."""

    total: int
    longest: int
    longest_floor: int
    method: Method
    members: int = 1


def _counted(counts: list[int], method: Method) -> PromptCount:
    longest = max(counts, default=0)
    return PromptCount(
        total=max(1, sum(counts)),
        longest=longest,
        longest_floor=longest,
        method=method,
        members=max(1, len(counts)),
    )


def count_prompt(
    parsed: schemas.ChatCompletionRequest | schemas.CompletionRequest,
    *,
    tokenizer: model_tokenizer.ModelTokenizer | None,
    chars_per_token: float,
) -> PromptCount:
    """The prompt's count, by the best method at hand."""
    if isinstance(parsed, schemas.CompletionRequest):
        ids = parsed.token_id_prompts()
        if ids is not None:
            return _counted([len(member) for member in ids], "token_ids")
        texts = parsed.prompt_texts() or []
        if tokenizer is not None:
            return _counted(tokenizer.count_texts(texts), "tokenizer")
    elif tokenizer is not None:
        turns = [
            model_tokenizer.ChatTurn(role=message.role, content=message.text())
            for message in parsed.messages
        ]
        try:
            return _counted([tokenizer.count_chat(turns)], "tokenizer")
        except jinja2.TemplateError as error:
            log.info("chat template refused a request (%s); its prompt is estimated", error)
    return estimate(parsed.prompt_characters(), chars_per_token=chars_per_token)


async def count_prompt_off_loop(
    parsed: schemas.ChatCompletionRequest | schemas.CompletionRequest,
    *,
    tokenizer: model_tokenizer.ModelTokenizer | None,
    chars_per_token: float,
) -> PromptCount:
    """`count_prompt`, in a worker thread when a tokenizer counts a long prompt."""
    if tokenizer is None or sum(parsed.prompt_characters()) <= INLINE_CHARACTERS:
        return count_prompt(parsed, tokenizer=tokenizer, chars_per_token=chars_per_token)
    return await asyncio.to_thread(
        count_prompt, parsed, tokenizer=tokenizer, chars_per_token=chars_per_token
    )


def estimate(characters: list[int], *, chars_per_token: float) -> PromptCount:
    """Each member's tokens estimated from its characters."""
    counts = [round(length / chars_per_token) for length in characters]
    longest = max(characters, default=0)
    return PromptCount(
        total=max(1, sum(counts)),
        longest=max(counts, default=0),
        longest_floor=round(longest / (chars_per_token * LOWER_BOUND_FACTOR)),
        method="estimate",
        members=max(1, len(characters)),
    )
