"""What the simulated model reads and writes: token counts of prompts, and filler output.

- A text prompt has one token per whitespace-separated word (so a load generator controls prompt
  length exactly); a prompt given as token ids has one token per id.
- The output is a fixed cycle of filler words, one token each (" alpha", " bravo", ...). There is
  no end-of-sequence token, so a request generates `max_tokens` tokens, as benchmarks force with
  vLLM's `ignore_eos`, unless a stop string or stop token id in the filler ends it earlier; as in
  vLLM, stop conditions are not checked before `min_tokens` tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

FILLER_WORDS: tuple[str, ...] = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa",
)  # fmt: skip
FIRST_FILLER_TOKEN_ID = 1000

FinishReason = Literal["length", "stop"]


def count_words(text: str) -> int:
    """Prompt tokens of a text: its whitespace-separated words."""
    return len(text.split())


def filler_token_text(index: int) -> str:
    """Text of output token `index` (0-based)."""
    return " " + FILLER_WORDS[index % len(FILLER_WORDS)]


def filler_token_id(index: int) -> int:
    """Token id of output token `index`."""
    return FIRST_FILLER_TOKEN_ID + index % len(FILLER_WORDS)


@dataclass(frozen=True, kw_only=True)
class StopConditions:
    """When generation ends: vLLM's max_tokens, min_tokens, stop, stop_token_ids and
    include_stop_str_in_output."""

    max_tokens: int
    min_tokens: int = 0
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    include_stop_str_in_output: bool = False


@dataclass(frozen=True)
class OutputPlan:
    """The whole output of a request, decided when it arrives.

    `token_texts[i]` is what token i adds to the text (empty for tokens after a stop string was
    cut off); `stop_reason` is the stop string or token id that ended it, as vLLM reports it.
    """

    token_texts: tuple[str, ...]
    finish_reason: FinishReason
    stop_reason: str | int | None

    @property
    def num_tokens(self) -> int:
        return len(self.token_texts)

    @property
    def text(self) -> str:
        return "".join(self.token_texts)


def plan_output(conditions: StopConditions) -> OutputPlan:
    """The filler output that `conditions` allow."""
    if conditions.max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {conditions.max_tokens}")
    if not conditions.stop and not conditions.stop_token_ids:
        filler = tuple(filler_token_text(i) for i in range(conditions.max_tokens))
        return OutputPlan(filler, "length", None)
    stop_ids = set(conditions.stop_token_ids)
    texts: list[str] = []
    produced = ""
    for index in range(conditions.max_tokens):
        token = filler_token_text(index)
        checking = index + 1 >= conditions.min_tokens
        if checking and filler_token_id(index) in stop_ids:
            # vLLM keeps a stop token's text unless it is a special token; filler tokens are not
            texts.append(token)
            return OutputPlan(tuple(texts), "stop", filler_token_id(index))
        before = produced
        produced += token
        if checking:
            cut = _stop_string_cut(produced, len(before), conditions)
            if cut is not None:
                end, stop = cut
                _trim_to(texts, token, before, end)
                return OutputPlan(tuple(texts), "stop", stop)
        texts.append(token)
    return OutputPlan(tuple(texts), "length", None)


def _stop_string_cut(
    produced: str, previous_length: int, conditions: StopConditions
) -> tuple[int, str] | None:
    """Where the text ends if a stop string appeared with the newest token: (end, stop)."""
    best: tuple[int, str] | None = None
    for stop in conditions.stop:
        start = produced.find(stop, max(0, previous_length - len(stop) + 1))
        if start < 0:
            continue
        end = start + len(stop) if conditions.include_stop_str_in_output else start
        if best is None or end < best[0]:
            best = (end, stop)
    return best


def _trim_to(texts: list[str], token: str, before: str, end: int) -> None:
    """Append the newest token's text, cutting it (and earlier tokens' texts, when the stop
    string began in them) so that the texts join to the first `end` characters."""
    if end >= len(before):
        texts.append(token[: end - len(before)])
        return
    excess = len(before) - end
    for position in range(len(texts) - 1, -1, -1):
        if excess <= 0:
            break
        kept = max(0, len(texts[position]) - excess)
        excess -= len(texts[position]) - kept
        texts[position] = texts[position][:kept]
    texts.append("")


def prompt_tokens_of(prompt: str | Sequence[int]) -> int:
    """Tokens of a completions prompt: words of a text, or the number of token ids."""
    if isinstance(prompt, str):
        return count_words(prompt)
    return len(prompt)
