"""Online calibration in a running gateway, in front of an engine simulator that is not what
the gateway's profile says.

The engine (`sloserve engine-sim`) is timed by `--true-profile` (default the H200 Llama-3-8B
profile); the gateway predicts with `--believed-profile` (default the H100 one) and calibrates
from what it scrapes and relays. Traffic, in two phases: requests one at a time with a pause
after each (so that a scrape finds the engine idle and the next prefill runs alone), prompts of
1,000–4,000 token ids; then waves of 16 concurrent requests with short prompts and long outputs
(decode-only intervals). Prompts are random token ids, so that the engine's prefix cache holds
none of them. Afterwards `/debug/engines` gives the factors and the observations, and
the calibrated model's predictions are compared with a fit of the true profile and with the
prior, for the same work.

    python bench/gateway/calibration_live.py

Writes `--output` (bench/results/gateway_calibration_live.json) with the command and the
machine. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

import httpx
import stack

from sloserve.gateway import runtimes
from sloserve.scheduling import latency_model

RESULTS = Path(__file__).resolve().parents[1] / "results" / "gateway_calibration_live.json"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
CLASSES = [{"name": "batch", "ttft": "60s", "tpot": "1s"}]


async def stream(client: httpx.AsyncClient, gateway: str, prompt: list[int], tokens: int) -> int:
    """One streamed completion; its status (a busy machine may see a 503 when scrapes time
    out: counted, not fatal)."""
    body = {"model": MODEL, "prompt": prompt, "max_tokens": tokens, "stream": True}
    headers = {"authorization": f"Bearer {stack.BENCH_KEY}"}
    async with client.stream(
        "POST", f"{gateway}/v1/completions", json=body, headers=headers
    ) as answer:
        async for _ in answer.aiter_bytes():
            pass
        return answer.status_code


def predictions(model: latency_model.LatencyModel) -> dict[str, float]:
    return {
        "prefill_2000_s": model.prompt_prefill_time_s(2000),
        "decode_batch_16_context_500_s": model.decode_step_time_s(16, 500),
    }


def distinct_prompt(draw: random.Random, tokens: int) -> list[int]:
    """Token ids no other prompt shares a block of, so that the prefix cache holds none."""
    return [draw.randrange(1000, 30_000) for _ in range(tokens)]


async def drive(
    gateway: str, *, lone: int, waves: int, output_tokens: int, pause_s: float
) -> list[int]:
    draw = random.Random(0)
    statuses = []
    async with httpx.AsyncClient(timeout=300.0) as client:
        for index in range(lone):
            prompt = distinct_prompt(draw, 1000 + 100 * (index % 31))
            statuses.append(await stream(client, gateway, prompt, 16))
            await asyncio.sleep(pause_s)
        for _ in range(waves):
            prompts = [distinct_prompt(draw, 16) for _ in range(16)]
            statuses.extend(
                await asyncio.gather(
                    *(stream(client, gateway, prompt, output_tokens) for prompt in prompts)
                )
            )
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--true-profile", default="h200-llama3-8b")
    parser.add_argument("--believed-profile", default="h100-llama3-8b")
    parser.add_argument("--lone", type=int, default=60)
    parser.add_argument("--waves", type=int, default=8)
    parser.add_argument("--output-tokens", type=int, default=1000)
    parser.add_argument("--scrape-interval-s", type=float, default=1.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args()
    os.environ["SLOSERVE_GATEWAY__SCHEDULING__ENGINE_METRICS_INTERVAL_S"] = str(
        options.scrape_interval_s
    )
    started = time.monotonic()
    with stack.stack() as running:
        engine = running.engine(
            model=MODEL,
            profile=options.true_profile,
            time_scale=1.0,
            extra=["--max-model-len=16384"],
        )
        gateway = running.sloserve(
            model=MODEL,
            profile=options.believed_profile,
            engines=[engine],
            policy="scorpio",
            classes=CLASSES,
            default_class="batch",
        )
        statuses = asyncio.run(
            drive(
                gateway,
                lone=options.lone,
                waves=options.waves,
                output_tokens=options.output_tokens,
                pause_s=2 * options.scrape_interval_s,
            )
        )
        time.sleep(2 * options.scrape_interval_s)
        (view,) = httpx.get(f"{gateway}/debug/engines", timeout=10).json()["models"]
    latency = view["latency_model"]
    factors = {phase: latency["factors"][phase]["factor"] for phase in ("prefill", "decode")}
    prior = runtimes.fit_profile(options.believed_profile)
    calibrated = prior.scaled(prefill=factors["prefill"], decode=factors["decode"])
    true = runtimes.fit_profile(options.true_profile)
    truth = predictions(true)
    rows = []
    for name, model in (("prior", prior), ("calibrated", calibrated)):
        predicted = predictions(model)
        rows.append(
            {
                "model": name,
                **{key: round(value, 5) for key, value in predicted.items()},
                **{f"{key}_error": round(predicted[key] / truth[key] - 1, 4) for key in predicted},
            }
        )
    result = {
        "command": " ".join(["python", "bench/gateway/calibration_live.py", *sys.argv[1:]]),
        "machine": stack.machine(),
        "true_profile": options.true_profile,
        "believed_profile": options.believed_profile,
        "requests": options.lone + 16 * options.waves,
        "served": sum(status == 200 for status in statuses),
        "statuses": {str(status): statuses.count(status) for status in sorted(set(statuses))},
        "scrape_interval_s": options.scrape_interval_s,
        "wall_s": round(time.monotonic() - started, 1),
        "factors": factors,
        "observations": latency["observations"],
        "drifting": {phase: latency["factors"][phase]["drifting"] for phase in factors},
        "mean_abs_log_error": {
            phase: round(latency["factors"][phase]["mean_abs_log_error"], 4) for phase in factors
        },
        "true_fit": {key: round(value, 5) for key, value in truth.items()},
        "rows": rows,
    }
    options.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
