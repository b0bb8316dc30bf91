"""What attending over earlier context costs a prefill, calibrated from a latency profile.

A profile's prefill points time fresh prompts: a prompt of N tokens computes N token rows through
the dense layers (cost linear in N) and attention between every token and those before it (about
N²/2 pairs, the quadratic part). A prefill that follows a cached prefix of C tokens computes only
its P new rows, but each of them still attends over the C cached tokens: P × C more pairs than a
fresh prompt of P tokens. Fitting ms ≈ a + b·N + q·N² over the profile's compute-bound points
(from `MIN_FIT_TOKENS` up) gives q per N² = N²/2 pairs, so one (new token, earlier token) pair
costs 2q milliseconds. The engine simulator adds this for every prefill chunk with earlier
context; the TTFT guard predicts a cached prompt the same way (`equivalent_tokens`).
"""

from sloserve.scheduling import latency_profile

# below this many tokens a prefill is dominated by fixed costs and the curve says little about
# attention
MIN_FIT_TOKENS = 512


def attention_ms_per_pair(profile: latency_profile.LatencyProfile) -> float:
    """Milliseconds one (new token, earlier token) attention pair adds to a prefill; 0 when the
    profile's prefill curve shows no quadratic growth (or too few points to fit one)."""
    points = [(float(p.tokens), p.ms) for p in profile.prefill if p.tokens >= MIN_FIT_TOKENS]
    if len(points) < 3:
        return 0.0
    quadratic = _least_squares_quadratic(points)
    return max(0.0, 2.0 * quadratic)


def per_token_ms(profile: latency_profile.LatencyProfile) -> float:
    """The prefill curve's slope over its largest two points, milliseconds per prompt token: how
    many tokens of prefill an amount of attention time is worth."""
    ordered = sorted(profile.prefill, key=lambda p: p.tokens)
    low, high = ordered[-2], ordered[-1]
    return (high.ms - low.ms) / (high.tokens - low.tokens)


def attended_pairs(*, new_tokens: int, cached_tokens: int, chunk_tokens: int) -> int:
    """(new token, earlier token) pairs beyond a fresh prompt's own chunk: every new token
    attends over the cached tokens, and a prompt prefilled in chunks of `chunk_tokens` (0: one
    chunk) attends in each chunk over the chunks before it, as the engine computes them."""
    pairs = new_tokens * max(0, cached_tokens)
    if chunk_tokens > 0 and new_tokens > chunk_tokens:
        full, rest = divmod(new_tokens, chunk_tokens)
        # chunk k (k ≥ 1) of `chunk_tokens` follows k earlier chunks
        pairs += chunk_tokens * chunk_tokens * (full * (full - 1) // 2)
        pairs += rest * full * chunk_tokens
    return pairs


def equivalent_tokens(
    *,
    new_tokens: int,
    cached_tokens: int,
    ms_per_pair: float,
    ms_per_token: float,
    chunk_tokens: int = 0,
) -> int:
    """Prompt tokens of fresh prefill, as a latency model prices them chunk by chunk, that cost
    what `new_tokens` after `cached_tokens` of cached context cost: the new tokens plus their
    attention over earlier context (`attended_pairs`), in tokens."""
    if ms_per_pair <= 0 or ms_per_token <= 0:
        return new_tokens
    pairs = attended_pairs(
        new_tokens=new_tokens, cached_tokens=cached_tokens, chunk_tokens=chunk_tokens
    )
    return new_tokens + round(ms_per_pair * pairs / ms_per_token)


def _least_squares_quadratic(points: list[tuple[float, float]]) -> float:
    """The q of the least-squares fit y ≈ a + b·x + q·x² (x scaled to keep the sums small)."""
    scale = max(x for x, _ in points)
    sums = [0.0] * 5
    rhs = [0.0] * 3
    for x, y in points:
        u = x / scale
        power = 1.0
        for k in range(5):
            sums[k] += power
            if k < 3:
                rhs[k] += power * y
            power *= u
    matrix = [[sums[i + j] for j in range(3)] for i in range(3)]
    solution = _solve3(matrix, rhs)
    return solution[2] / (scale * scale)


def _solve3(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting on a 3 × 3 system."""
    rows = [[*matrix[i], rhs[i]] for i in range(3)]
    for column in range(3):
        pivot = max(range(column, 3), key=lambda r: abs(rows[r][column]))
        rows[column], rows[pivot] = rows[pivot], rows[column]
        lead = rows[column][column]
        if lead == 0:
            return [0.0, 0.0, 0.0]
        for r in range(3):
            if r != column:
                factor = rows[r][column] / lead
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[column], strict=True)]
    return [rows[i][3] / rows[i][i] for i in range(3)]
