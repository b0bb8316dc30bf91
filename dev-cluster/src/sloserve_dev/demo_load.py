"""The demo's load: a workload file (config/demo/workload.yaml) and the OpenAI-SDK client that
sends it through the gateway, with a per-class summary of what the client saw."""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import random
import statistics
import time
from typing import TYPE_CHECKING

import pydantic
import yaml
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    import openai


class WorkloadError(ValueError):
    """The workload file is not valid; the message names the field."""


class Range(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    min: int = pydantic.Field(ge=1)
    max: int = pydantic.Field(ge=1)

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class Workload(pydantic.BaseModel):
    """Poisson arrivals at `rate_rps` for `duration_seconds`; classes drawn by `class_mix`."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel)

    rate_rps: float = pydantic.Field(gt=0, le=50)
    duration_seconds: float = pydantic.Field(ge=5, le=600)
    seed: int = 7
    class_mix: dict[str, float] = pydantic.Field(min_length=1)
    prompt_words: Range
    max_tokens: Range

    @pydantic.field_validator("class_mix")
    @classmethod
    def _shares(cls, mix: dict[str, float]) -> dict[str, float]:
        negative = [name for name, share in mix.items() if share < 0]
        if negative or sum(mix.values()) <= 0:
            raise ValueError("shares must be non-negative and not all zero")
        return mix


def load_workload(path: pathlib.Path, *, classes: list[str]) -> Workload:
    """Reads and checks a workload file; every class it draws must be one of `classes` (the
    ModelService's). Raises WorkloadError naming the file and the field."""
    try:
        workload = Workload.model_validate(yaml.safe_load(path.read_text()))
    except pydantic.ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise WorkloadError(f"{path}: {problems}") from None
    unknown = sorted(set(workload.class_mix) - set(classes))
    if unknown:
        raise WorkloadError(
            f"{path}: classMix names {unknown}, which the ModelService does not have "
            f"(it has {classes})"
        )
    return workload


@dataclasses.dataclass(frozen=True)
class RequestResult:
    """One request of the load: its class, `served`, `rejected` or `failed (…)`, and the time to
    its first token as the client saw it."""

    slo_class: str
    status: str
    ttft_s: float | None


async def _request(
    client: openai.AsyncOpenAI, *, model: str, slo_class: str, prompt_words: int, max_tokens: int
) -> RequestResult:
    import openai  # a development dependency: `sloserve dev` must load without it

    started = time.monotonic()
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": " ".join(["token"] * prompt_words)}],
            max_tokens=max_tokens,
            stream=True,
            extra_headers={"x-slo-class": slo_class},
        )
        first: float | None = None
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.monotonic() - started
        return RequestResult(slo_class, "served", first)
    except openai.RateLimitError:
        return RequestResult(slo_class, "rejected", None)
    except openai.APIError as error:
        return RequestResult(slo_class, f"failed ({type(error).__name__})", None)


async def send(base_url: str, *, model: str, workload: Workload) -> list[RequestResult]:
    """Sends the workload to the gateway at `base_url`; returns every request's result."""
    import openai  # a development dependency: `sloserve dev` must load without it

    rng = random.Random(workload.seed)
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="demo", max_retries=0)
    names, shares = list(workload.class_mix), list(workload.class_mix.values())
    tasks: list[asyncio.Task[RequestResult]] = []
    deadline = time.monotonic() + workload.duration_seconds
    try:
        while time.monotonic() < deadline:
            request = _request(
                client,
                model=model,
                slo_class=rng.choices(names, weights=shares)[0],
                prompt_words=rng.randint(workload.prompt_words.min, workload.prompt_words.max),
                max_tokens=rng.randint(workload.max_tokens.min, workload.max_tokens.max),
            )
            tasks.append(asyncio.create_task(request))
            await asyncio.sleep(rng.expovariate(workload.rate_rps))
        return list(await asyncio.gather(*tasks))
    finally:
        await client.close()


def client_summary(results: list[RequestResult], classes: list[str]) -> str:
    """Per class, as the client saw it: requests, served, rejected, failed, TTFT p50 and max."""
    lines = [f"{'class':<12} {'sent':>5} {'served':>7} {'rejected':>9} {'failed':>7} ttft p50/max"]
    for slo_class in classes:
        mine = [result for result in results if result.slo_class == slo_class]
        ttfts = [r.ttft_s for r in mine if r.ttft_s is not None]
        latency = (
            f"{statistics.median(ttfts) * 1000:.0f} / {max(ttfts) * 1000:.0f} ms" if ttfts else "-"
        )
        served = sum(r.status == "served" for r in mine)
        rejected = sum(r.status == "rejected" for r in mine)
        failed = len(mine) - served - rejected
        lines.append(
            f"{slo_class:<12} {len(mine):>5} {served:>7} {rejected:>9} {failed:>7} {latency}"
        )
    return "\n".join(lines)
