"""Online calibration and prompt-token counting as the gateway exposes them: its metrics and
`/debug/engines`, on a gateway in front of a fake engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tokenizer_files
from gateway_fakes import ENGINE_URL, MODEL
from test_metrics_exposition import scrape

MODEL_LABELS = {"namespace": "", "modelservice": "", "model": MODEL}


async def stream_one(client: Any, **body: Any) -> None:
    payload = {"model": MODEL, "prompt": "hi", "max_tokens": 3, "stream": True, **body}
    assert (await client.post("/v1/completions", json=payload)).status_code == 200


async def test_a_lone_stream_calibrates_and_shows_in_the_metrics(gateway_client: Any) -> None:
    client = await gateway_client()
    await stream_one(client)
    samples = await scrape(client)
    factors = {
        (s.labels["engine"], s.labels["phase"]): s.value
        for s in samples["sloserve_latency_model_factor"]
    }
    # one prefill observed (whichever way the in-process timing moved it); too few tokens to
    # observe decode
    assert factors[("", "prefill")] != 1.0
    assert factors[("", "decode")] == 1.0
    assert factors[(ENGINE_URL, "prefill")] == factors[("", "prefill")]
    for name in ("sloserve_latency_model_error", "sloserve_latency_model_drifting"):
        assert {s.labels["phase"] for s in samples[name]} == {"prefill", "decode"}
    observed = {
        (s.labels["phase"], s.labels["source"]): s.value
        for s in samples["sloserve_latency_model_observations"]
    }
    assert observed[("prefill", "stream")] == 1
    assert observed[("decode", "engine")] == 0
    assert samples["sloserve_latency_model_factor"][0].labels.keys() >= MODEL_LABELS.keys()


async def test_debug_engines_shows_the_calibrated_model_and_each_engine(
    gateway_client: Any,
) -> None:
    client = await gateway_client()
    await stream_one(client)
    (model,) = (await client.get("/debug/engines")).json()["models"]
    assert (model["model"], model["profile"], model["profile_rule"]) == (
        MODEL,
        "synthetic",
        "named",
    )
    latency = model["latency_model"]
    assert latency["calibration"] == "on"
    assert latency["factors"]["prefill"]["observations"] == 1
    assert latency["factors"]["prefill"]["factor"] != 1.0
    assert latency["prior"]["prefill_1024_tokens_s"] > 0
    (engine,) = model["engines"]
    assert (engine["url"], engine["timing_from"]) == (ENGINE_URL, "stream")
    assert engine["calibration"]["prefill"]["observations"] == 1
    assert model["tokenizer"].startswith("none named")


async def test_calibration_switched_off_observes_nothing_and_exports_no_factors(
    gateway_client: Any,
) -> None:
    client = await gateway_client(calibration={"enabled": False})
    await stream_one(client)
    samples = await scrape(client)
    assert "sloserve_latency_model_factor" not in samples
    (model,) = (await client.get("/debug/engines")).json()["models"]
    assert model["latency_model"]["calibration"] == "off"
    assert model["latency_model"]["factors"]["prefill"]["factor"] == 1.0
    assert all(count == 0 for count in model["latency_model"]["observations"].values())


def counts(samples: dict[str, list[Any]]) -> dict[str, float]:
    return {
        s.labels["method"]: s.value for s in samples.get("sloserve_prompt_token_counts_total", [])
    }


async def test_without_a_tokenizer_prompts_are_estimated_and_the_metric_says_so(
    gateway_client: Any,
) -> None:
    client = await gateway_client()
    await stream_one(client, prompt=["a" * 40, "b" * 80])
    samples = await scrape(client)
    assert counts(samples) == {"estimate": 1}
    # every member of the batch: 10 + 20 tokens at 4 characters a token
    assert samples["sloserve_prompt_tokens_total"][0].value == 30


async def test_the_models_tokenizer_counts_batch_and_chat_prompts(
    gateway_client: Any, tmp_path: Path
) -> None:
    directory = tokenizer_files.write_tokenizer(tmp_path / "tokenizer")
    client = await gateway_client(models_extra={"tokenizer": str(directory)})
    (model,) = (await client.get("/debug/engines")).json()["models"]
    assert model["tokenizer"] == f"loaded from {directory}"
    await stream_one(client, prompt=["hello world", "hello"])
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hello world"}]}
    assert (await client.post("/v1/chat/completions", json=chat)).status_code == 200
    await stream_one(client, prompt=[[1, 2, 3, 4]])
    samples = await scrape(client)
    assert counts(samples) == {"tokenizer": 2, "token_ids": 1}
    # <s> hello world + <s> hello; <s> <|user|> hello world <|assistant|>; four ids
    assert sum(s.value for s in samples["sloserve_prompt_tokens_total"]) == 5 + 5 + 4
