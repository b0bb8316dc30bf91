"""The simulator's vocabulary, for `/tokenize` and `/detokenize`.

A text token is a whitespace-separated word (as everywhere in the simulator). Its id: the
filler words the simulator generates have theirs (1000–1015); a word written `tok<N>` (what
`/detokenize` makes of an id it has no word for) is id N; any other word gets a stable id from a
hash of its text. So `/tokenize` counts exactly the prompt tokens a generation request is charged
for, and `/detokenize` of any ids gives a text with one word per id that tokenizes back to them.
"""

from __future__ import annotations

import hashlib
import re

from sloserve.engine import generation

VOCAB_SIZE = 32000
#: The id of the one token a chat without any words is charged for (its template's, in vLLM).
CHAT_TEMPLATE_TOKEN = 1
_FILLER_IDS = {
    word: generation.FIRST_FILLER_TOKEN_ID + index
    for index, word in enumerate(generation.FILLER_WORDS)
}
_FILLER_WORDS = {token: word for word, token in _FILLER_IDS.items()}
_SPELLED_ID = re.compile(r"tok(\d+)")
_HASHED_FIRST = generation.FIRST_FILLER_TOKEN_ID + len(generation.FILLER_WORDS)


def word_id(word: str) -> int:
    """The id of one word."""
    if word in _FILLER_IDS:
        return _FILLER_IDS[word]
    spelled = _SPELLED_ID.fullmatch(word)
    if spelled is not None:
        return int(spelled.group(1))
    digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
    return _HASHED_FIRST + int.from_bytes(digest, "big") % (VOCAB_SIZE - _HASHED_FIRST)


def token_ids(text: str) -> list[int]:
    """The ids of a text's words."""
    return [word_id(word) for word in text.split()]


def token_text(token: int) -> str:
    """The word of an id: a filler word, or `tok<N>`."""
    return _FILLER_WORDS.get(token, f"tok{token}")


def detokenize(tokens: list[int]) -> str:
    """A text whose words are the ids' words, separated by spaces."""
    return " ".join(token_text(token) for token in tokens)
