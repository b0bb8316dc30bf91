"""The gateway's TTFT prediction on cached prompts, against an engine-sim process.

    python bench/sim/prefix_prediction_engine_sim.py --trials 40 \
        --out bench/results/prefix_prediction_engine_sim.json

One `sloserve engine-sim` process on loopback (`h200-llama3-8b`, real time). Each trial sends a
fresh prompt of token ids (its prefix; 1,000–12,000 tokens), then the same prompt followed by
64–2,048 more ids, each alone on the idle engine with one output token, and times the second's
first streamed token at the client. The prediction for the second, as the scheduling core makes
it on an idle engine (guard margin left out): before, its whole prompt's prefill
(`LatencyModel.prefill_time_s`); after, the prefill it leaves once the gateway's prefix index
has recorded the first prompt on that engine (`prefix_index.PrefixView`, blocks of 64 ids, with
attention over the cache). Reports the median absolute relative error of both. The measured time
includes the HTTP round trip on loopback, which the prediction does not.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import httpx
import sweep

from sloserve.engine import config
from sloserve.gateway.serving import prompt_prefix
from sloserve.scheduling import (
    attention_cost,
    engine_state,
    latency_fit,
    prefix_index,
    profile_files,
    slo,
    ttft_guard,
)

# the gateway benchmarks' process helpers (bench/gateway/stack.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
import stack

MODEL = "llama-3-8b"
BLOCK = 64
SLO_CLASS = slo.SLOClass(name="standard", ttft_s=3.0, tpot_s=0.03)


def _request(ids: list[int], request_id: str) -> slo.Request:
    return slo.Request(
        request_id=request_id,
        model=MODEL,
        slo_class=SLO_CLASS,
        arrival_s=0.0,
        prompt_tokens=len(ids),
        max_tokens=1,
        prefix_hashes=prompt_prefix.prefix_hashes(
            ids, prompt_tokens=len(ids), block_tokens=BLOCK, chars_per_token=4.0
        ),
        prefix_block_tokens=BLOCK,
    )


def _first_token_s(client: httpx.Client, url: str, prompt: list[int]) -> float:
    body = {"model": MODEL, "prompt": prompt, "max_tokens": 1, "stream": True}
    started = time.perf_counter()
    with client.stream("POST", f"{url}/v1/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: ") and '"text"' in line:
                return time.perf_counter() - started
    raise RuntimeError("no token streamed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="h200-llama3-8b")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path("bench/results/prefix_prediction_engine_sim.json")
    )
    args = parser.parse_args()
    profile = profile_files.load_profile(args.profile)
    _, max_batched = config.default_batching_limits(profile)
    latency = latency_fit.fit_latency_model(profile, max_batched_tokens=max_batched).model
    index = prefix_index.PrefixIndex(capacity_tokens=10**7)
    view = prefix_index.PrefixView(
        index,
        ms_per_pair=attention_cost.attention_ms_per_pair(profile),
        ms_per_token=attention_cost.per_token_ms(profile),
        chunk_tokens=max_batched,
    )
    idle = engine_state.EngineState(engine_id="e0", max_num_seqs=1024)
    rng = random.Random(args.seed)
    trials = []
    with stack.stack() as running, httpx.Client(timeout=60.0) as client:
        url = running.engine(
            model=MODEL, profile=args.profile, time_scale=1.0, extra=["--max-model-len=32768"]
        )
        for trial in range(args.trials):
            base = rng.randint(1000, 12000)
            extra = rng.randint(64, 2048)
            first = [10_000 + (trial * 20_000 + i) % 30_000 for i in range(base)]
            second = first + [5 + (trial * 7 + i) % 900 for i in range(extra)]
            _first_token_s(client, url, first)
            actual_s = _first_token_s(client, url, second)
            index.record(_request(first, f"first-{trial}"), "e0")
            cached = _request(second, f"second-{trial}")
            before_s = ttft_guard.engine_ttft_s(
                engine=idle, latency=latency, prompt_tokens_ahead=len(second), margin_s=0.0
            )
            after_s = ttft_guard.engine_ttft_s(
                engine=idle,
                latency=latency,
                prompt_tokens_ahead=view.prefill_tokens(cached, "e0"),
                margin_s=0.0,
            )
            trials.append(
                {
                    "prefix_tokens": base,
                    "new_tokens": extra,
                    "cached_by_index": view.cached_tokens(cached, "e0"),
                    "actual_s": round(actual_s, 5),
                    "predicted_before_s": round(before_s, 5),
                    "predicted_after_s": round(after_s, 5),
                }
            )
    before = [abs(t["predicted_before_s"] - t["actual_s"]) / t["actual_s"] for t in trials]
    after = [abs(t["predicted_after_s"] - t["actual_s"]) / t["actual_s"] for t in trials]
    document = {
        **sweep.provenance(profile),
        "machine_load": stack.machine(),
        "what": "median |predicted - actual| / actual TTFT of a prompt whose prefix the engine "
        "has cached, idle engine-sim process on loopback; before: whole-prompt prediction, "
        "after: the prefix-aware prediction",
        "median_abs_error_before": round(statistics.median(before), 4),
        "median_abs_error_after": round(statistics.median(after), 4),
        "trials": trials,
    }
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(document["median_abs_error_before"], document["median_abs_error_after"])


if __name__ == "__main__":
    main()
