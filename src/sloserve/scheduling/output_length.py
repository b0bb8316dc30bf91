"""Output-length estimates from recently observed outputs, capped by max_tokens.

A request's true output length is unknown until it ends. `estimate` gives a high quantile of the
model's recent outputs, which errs long and keeps completion predictions on the safe side.
`remaining` answers a different question, for predicting when a running request frees its batch
slot: given that it has produced `generated` tokens, how many more it will typically produce —
a quantile (the median by default) of the recent outputs longer than that. Before enough outputs
have been seen both use a fixed prior.
"""

import bisect
import collections
import math


class OutputLengthEstimator:
    """Rolling estimate of output tokens for one model.

    `window`: how many recent outputs are remembered. `quantile`: which quantile of them is the
    estimate, in (0, 1]. `prior_tokens`: the estimate until `min_observations` outputs are seen.
    """

    def __init__(
        self,
        *,
        window: int = 1000,
        quantile: float = 0.9,
        prior_tokens: int = 256,
        min_observations: int = 20,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window!r}")
        if not 0 < quantile <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {quantile!r}")
        if prior_tokens < 1:
            raise ValueError(f"prior_tokens must be at least 1, got {prior_tokens!r}")
        if not 1 <= min_observations <= window:
            raise ValueError(
                f"min_observations must be between 1 and window ({window}), "
                f"got {min_observations!r}"
            )
        self._quantile = quantile
        self._prior_tokens = prior_tokens
        self._min_observations = min_observations
        self._recent: collections.deque[int] = collections.deque(maxlen=window)
        self._sorted: list[int] = []

    @property
    def observations(self) -> int:
        """How many outputs the window holds now."""
        return len(self._recent)

    def observe(self, output_tokens: int) -> None:
        """Record a finished request's output length (tokens, at or above zero)."""
        if output_tokens < 0:
            raise ValueError(f"output_tokens must be at or above zero, got {output_tokens!r}")
        if len(self._recent) == self._recent.maxlen:
            oldest = self._recent[0]
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]
        self._recent.append(output_tokens)
        bisect.insort(self._sorted, output_tokens)

    def estimate(self, max_tokens: int) -> int:
        """Predicted output tokens of a request allowed `max_tokens`: at least 1, at most
        `max_tokens`."""
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens!r}")
        if len(self._sorted) < self._min_observations:
            typical = self._prior_tokens
        else:
            rank = math.ceil(self._quantile * len(self._sorted))
            typical = self._sorted[rank - 1]
        return max(1, min(max_tokens, typical))

    def remaining(self, *, max_tokens: int | None, generated: int, quantile: float) -> int:
        """Tokens a request that has produced `generated` (of at most `max_tokens`, None when
        unknown) will still produce, at `quantile` of the recent outputs longer than
        `generated`: at least 1, at most what `max_tokens` leaves. With no such output seen (or
        too few outputs), the prior, or twice `generated` when that is longer."""
        ordered = self._sorted
        longer_from = bisect.bisect_right(ordered, generated)
        longer = len(ordered) - longer_from
        if len(ordered) < self._min_observations or longer == 0:
            total = max(self._prior_tokens, 2 * generated)
        else:
            total = ordered[longer_from + min(longer - 1, int(quantile * longer))]
        if max_tokens is not None:
            total = min(total, max_tokens)
        return max(1, total - generated)
