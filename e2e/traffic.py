"""Traffic through the gateway with the OpenAI SDK: streamed chat completions in named SLO
classes, each request sent to a gateway pod that is ready when it starts (round robin)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping, Sequence

import openai

#: Headers the gateway reads the class from, and answers with the class it used.
CLASS_HEADER = "x-slo-class"
_RETRY_PAUSE_S = 0.5


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One request: the class asked for, the class the gateway answered with, and either the
    number of content chunks streamed or the error."""

    asked_class: str
    served_class: str | None
    chunks: int
    error: str | None
    seconds: float


@dataclasses.dataclass(frozen=True)
class ClassSummary:
    """The outcomes of one class."""

    slo_class: str
    outcomes: tuple[Outcome, ...]

    @property
    def succeeded(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.error is None)

    @property
    def errors(self) -> list[str]:
        return [outcome.error for outcome in self.outcomes if outcome.error is not None]


def _retryable(error: openai.APIError) -> bool:
    """Failures a client retrying through a Service would retry: the connection failed, or the
    gateway was draining (503)."""
    return isinstance(error, openai.APIConnectionError) or (
        isinstance(error, openai.APIStatusError) and error.status_code == 503
    )


async def _one(
    *,
    base_url: str,
    api_key: str,
    model: str,
    slo_class: str,
    max_tokens: int,
    timeout_s: float,
) -> Outcome | openai.APIError:
    started = time.monotonic()
    client = openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key=api_key, max_retries=0, timeout=timeout_s
    )
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": f"Say hello to the {slo_class} class."}],
            max_tokens=max_tokens,
            stream=True,
            extra_headers={CLASS_HEADER: slo_class},
        )
        served = stream.response.headers.get(CLASS_HEADER)
        chunks = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                chunks += 1
        return Outcome(slo_class, served, chunks, None, time.monotonic() - started)
    except openai.APIError as error:
        return error
    finally:
        await client.close()


async def _drive(
    *,
    base_urls: Callable[[], Sequence[str]],
    api_key: str,
    model: str,
    requests_per_class: Mapping[str, int],
    max_tokens: int,
    concurrency: int,
    timeout_s: float,
    retries: int,
) -> dict[str, ClassSummary]:
    per_class = [[slo_class] * count for slo_class, count in requests_per_class.items()]
    order = [c for group in itertools.zip_longest(*per_class) for c in group if c is not None]
    turn = itertools.count()
    gate = asyncio.Semaphore(concurrency)

    async def send(slo_class: str) -> Outcome:
        async with gate:
            failure = "no ready gateway endpoint"
            for _ in range(1 + retries):
                urls = await asyncio.to_thread(base_urls)
                if not urls:
                    await asyncio.sleep(_RETRY_PAUSE_S)
                    continue
                result = await _one(
                    base_url=urls[next(turn) % len(urls)],
                    api_key=api_key,
                    model=model,
                    slo_class=slo_class,
                    max_tokens=max_tokens,
                    timeout_s=timeout_s,
                )
                if isinstance(result, Outcome):
                    return result
                failure = f"{type(result).__name__}: {result}"
                if not _retryable(result):
                    break
                await asyncio.sleep(_RETRY_PAUSE_S)
            return Outcome(slo_class, None, 0, failure, 0.0)

    outcomes = await asyncio.gather(*(send(slo_class) for slo_class in order))
    return {
        slo_class: ClassSummary(slo_class, tuple(o for o in outcomes if o.asked_class == slo_class))
        for slo_class in requests_per_class
    }


def drive(
    *,
    base_urls: Callable[[], Sequence[str]],
    api_key: str,
    model: str,
    requests_per_class: Mapping[str, int],
    max_tokens: int = 16,
    concurrency: int = 4,
    timeout_s: float = 60.0,
    retries: int = 0,
) -> dict[str, ClassSummary]:
    """Sends `requests_per_class[c]` streamed chat completions in each class `c`, interleaved,
    as the tenant of `api_key`,
    at most `concurrency` at once; `base_urls` is asked for the ready gateways before each
    attempt. With `retries`, a request whose connection failed or that met a draining gateway
    (503) is sent again to the gateways then ready, as a client retrying through a Service would.
    Returns each class's outcomes. Never raises for a failed request: its outcome carries the
    error."""
    return asyncio.run(
        _drive(
            base_urls=base_urls,
            api_key=api_key,
            model=model,
            requests_per_class=requests_per_class,
            max_tokens=max_tokens,
            concurrency=concurrency,
            timeout_s=timeout_s,
            retries=retries,
        )
    )
