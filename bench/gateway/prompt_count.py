"""What counting prompt tokens costs the gateway per request: the model's tokenizer against the
character estimate, on the code path admission runs (`prompt_count.count_prompt`).

The tokenizer is a byte-level BPE (the kind Llama 3 and Qwen ship) trained here, in memory, on
this repository's own docs, with a vocabulary of 32,000 and a chat template of the usual shape;
nothing is downloaded. Prompts are drawn from the same text at about 100, 1,000 and 8,000
tokens, as completions and as chat requests, and each is counted `--repeats` times; the median
per count is reported, with its ratio to the estimate's.

    python bench/gateway/prompt_count.py

Writes `--output` (bench/results/gateway_prompt_count.json) with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import stack
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from sloserve.gateway import model_tokenizer
from sloserve.gateway.serving import prompt_count, schemas

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "gateway_prompt_count.json"
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start|>{{ m['role'] }}\n{{ m['content'] }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|start|>assistant\n{% endif %}"
)


def corpus() -> str:
    return "\n".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))


def trained(text: str, vocab_size: int) -> model_tokenizer.ModelTokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "</s>", "<|start|>", "<|end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    lines = text.splitlines()
    tokenizer.train_from_iterator(lines, trainer=trainer)
    config = json.dumps({"bos_token": "<s>", "eos_token": "</s>", "chat_template": TEMPLATE})
    return model_tokenizer.ModelTokenizer.from_texts(tokenizer.to_str(), config)


def median_us(count: object, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        count()  # type: ignore[operator]
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--vocab-size", type=int, default=32_000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args()
    text = corpus()
    started = time.perf_counter()
    counter = trained(text, options.vocab_size)
    train_s = time.perf_counter() - started
    rows = []
    for target_tokens in (100, 1_000, 8_000):
        # about four characters a token in English prose
        prompt = text[: target_tokens * 4]
        bodies = {
            "completion": schemas.CompletionRequest.model_validate(
                {"model": "m", "prompt": prompt}
            ),
            "chat": schemas.ChatCompletionRequest.model_validate(
                {
                    "model": "m",
                    "messages": [
                        {"role": "system", "content": "You answer from the docs."},
                        {"role": "user", "content": prompt},
                    ],
                }
            ),
        }
        for kind, body in bodies.items():
            counted = prompt_count.count_prompt(body, tokenizer=counter, chars_per_token=4.0)
            estimated = prompt_count.count_prompt(body, tokenizer=None, chars_per_token=4.0)
            tokenizer_us = median_us(
                lambda b=body: prompt_count.count_prompt(b, tokenizer=counter, chars_per_token=4.0),
                options.repeats,
            )
            estimate_us = median_us(
                lambda b=body: prompt_count.count_prompt(b, tokenizer=None, chars_per_token=4.0),
                options.repeats,
            )
            rows.append(
                {
                    "request": kind,
                    "characters": len(prompt),
                    "tokens_counted": counted.total,
                    "tokens_estimated": estimated.total,
                    "tokenizer_us": round(tokenizer_us, 1),
                    "estimate_us": round(estimate_us, 1),
                    "ratio": round(tokenizer_us / estimate_us, 1),
                }
            )
            print(rows[-1], flush=True)
    result = {
        "command": " ".join(["python", "bench/gateway/prompt_count.py", *sys.argv[1:]]),
        "machine": stack.machine(),
        "vocab_size": options.vocab_size,
        "train_s": round(train_s, 2),
        "repeats": options.repeats,
        "rows": rows,
    }
    options.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
