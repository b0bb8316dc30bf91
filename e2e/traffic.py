"""Traffic through the gateway with the OpenAI SDK: streamed chat completions in named SLO
classes, each request sent to a gateway pod that is ready when it starts (round robin)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import openai

#: Headers the gateway reads the class from, and answers with the class it used.
CLASS_HEADER = "x-slo-class"
_RETRY_PAUSE_S = 0.5
#: How long paced load keeps the ready gateways it looked up.
_URLS_FRESH_S = 2.0


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
    prompt: str | None = None,
) -> Outcome | openai.APIError:
    started = time.monotonic()
    client = openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key=api_key, max_retries=0, timeout=timeout_s
    )
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[
                {"role": "user", "content": prompt or f"Say hello to the {slo_class} class."}
            ],
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
    prompt: str | None,
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
                    prompt=prompt,
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
    prompt: str | None = None,
) -> dict[str, ClassSummary]:
    """Sends `requests_per_class[c]` streamed chat completions in each class `c`, interleaved,
    as the tenant of `api_key`,
    at most `concurrency` at once; `base_urls` is asked for the ready gateways before each
    attempt. With `retries`, a request whose connection failed or that met a draining gateway
    (503) is sent again to the gateways then ready, as a client retrying through a Service would.
    `prompt` replaces the short greeting each request sends (a long one loads the engines' prefill).
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
            prompt=prompt,
        )
    )


class PacedLoad:
    """Open-loop traffic at a fixed rate, from a thread of its own, until stopped: a streamed chat
    completion of `prompt_chars` characters every 1/`rate_rps` seconds whatever the answers take
    (a load ramp the gateway cannot slow down by answering slowly), each to the next ready
    gateway; every outcome, a refusal included, is kept in `outcomes`."""

    def __init__(
        self,
        *,
        base_urls: Callable[[], Sequence[str]],
        api_key: str,
        model: str,
        slo_class: str,
        rate_rps: float,
        prompt_chars: int,
        max_tokens: int,
        timeout_s: float = 60.0,
    ) -> None:
        if rate_rps <= 0:
            raise ValueError(f"rate_rps must be above zero, got {rate_rps}")
        self._base_urls = base_urls
        self._api_key = api_key
        self._model = model
        self._slo_class = slo_class
        self._interval_s = 1.0 / rate_rps
        self._prompt_chars = prompt_chars
        self._max_tokens = max_tokens
        self._timeout_s = timeout_s
        self._stopping = threading.Event()
        self.outcomes: list[Outcome] = []
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> PacedLoad:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> list[Outcome]:
        """Sends no new request, lets the sent ones end, and returns every outcome."""
        self._stopping.set()
        self._thread.join(timeout=self._timeout_s + 30)
        return self.outcomes

    async def _send(self, base_url: str, serial: int) -> None:
        # A distinct start per request, so that no prefix cache shortens the prefill the load is
        # meant to cost.
        prompt = f"{serial} " + "lorem ipsum " * (self._prompt_chars // 12)
        started = time.monotonic()
        client = openai.AsyncOpenAI(
            base_url=f"{base_url}/v1", api_key=self._api_key, max_retries=0, timeout=self._timeout_s
        )
        try:
            stream = await client.chat.completions.create(
                model=self._model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=self._max_tokens,
                stream=True,
                extra_headers={CLASS_HEADER: self._slo_class},
            )
            chunks = 0
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    chunks += 1
            served = stream.response.headers.get(CLASS_HEADER)
            outcome = Outcome(self._slo_class, served, chunks, None, time.monotonic() - started)
        except openai.APIError as error:
            outcome = Outcome(
                self._slo_class,
                None,
                0,
                f"{type(error).__name__}: {error}",
                time.monotonic() - started,
            )
        finally:
            await client.close()
        self.outcomes.append(outcome)

    async def _run(self) -> None:
        sent: set[asyncio.Task[None]] = set()
        serial = 0
        next_s = time.monotonic()
        urls: Sequence[str] = ()
        looked_s = -_URLS_FRESH_S
        while not self._stopping.is_set():
            # Each look-up runs kubectl: once every few seconds, not once per request.
            if time.monotonic() - looked_s >= _URLS_FRESH_S or not urls:
                urls = await asyncio.to_thread(self._base_urls)
                looked_s = time.monotonic()
            if urls:
                task = asyncio.create_task(self._send(urls[serial % len(urls)], serial))
                sent.add(task)
                task.add_done_callback(sent.discard)
                serial += 1
            next_s += self._interval_s
            await asyncio.sleep(max(0.0, next_s - time.monotonic()))
        await asyncio.gather(*sent)
