"""Long streams through the gateway, kept running while engines are removed, each checked whole:
a stream counts as complete only if it ended the way the OpenAI API ends one (a choice with a
`finish_reason`, then the usage chunk with every token it reported), so a stream cut short by an
engine that went away is caught even when no error is raised."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Sequence

import openai


@dataclasses.dataclass(frozen=True)
class StreamResult:
    """One stream: how many content chunks arrived, how it ended, and the error if it failed."""

    chunks: int
    finish_reason: str | None
    completion_tokens: int | None
    error: str | None

    @property
    def complete(self) -> bool:
        return (
            self.error is None
            and self.finish_reason is not None
            and self.completion_tokens is not None
            and self.completion_tokens >= self.chunks > 0
        )


async def _one(
    base_url: str, *, api_key: str, model: str, slo_class: str, max_tokens: int
) -> StreamResult:
    client = openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key=api_key, max_retries=0, timeout=300.0
    )
    chunks = 0
    finish_reason: str | None = None
    completion_tokens: int | None = None
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Tell a long story."}],
            max_tokens=max_tokens,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"x-slo-class": slo_class},
        )
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    chunks += 1
                if choice.finish_reason is not None:
                    finish_reason = choice.finish_reason
            if chunk.usage is not None:
                completion_tokens = chunk.usage.completion_tokens
    except openai.APIError as error:
        return StreamResult(
            chunks, finish_reason, completion_tokens, f"{type(error).__name__}: {error}"
        )
    finally:
        await client.close()
    return StreamResult(chunks, finish_reason, completion_tokens, None)


class StreamLoad:
    """Keeps `concurrency` streams running through the gateways `base_urls()` returns, from a
    thread of its own, until stopped; every stream that started is kept in `results`."""

    def __init__(
        self,
        *,
        base_urls: Callable[[], Sequence[str]],
        api_key: str,
        model: str,
        slo_class: str,
        max_tokens: int,
        concurrency: int,
    ) -> None:
        self._base_urls = base_urls
        self._api_key = api_key
        self._model = model
        self._slo_class = slo_class
        self._max_tokens = max_tokens
        self._concurrency = concurrency
        self._stopping = threading.Event()
        self.results: list[StreamResult] = []
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> StreamLoad:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> list[StreamResult]:
        """Lets the running streams finish, starts no new one, and returns every result."""
        self._stopping.set()
        self._thread.join(timeout=600)
        return self.results

    async def _worker(self, index: int) -> None:
        turn = index
        while not self._stopping.is_set():
            urls = await asyncio.to_thread(self._base_urls)
            if not urls:
                await asyncio.sleep(0.5)
                continue
            turn += 1
            self.results.append(
                await _one(
                    urls[turn % len(urls)],
                    api_key=self._api_key,
                    model=self._model,
                    slo_class=self._slo_class,
                    max_tokens=self._max_tokens,
                )
            )

    async def _run(self) -> None:
        await asyncio.gather(*(self._worker(index) for index in range(self._concurrency)))
