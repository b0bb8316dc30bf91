"""Make a tiny Llama-architecture model that vLLM serves on a CPU. Runs in the vLLM virtualenv
(it needs torch, transformers and tokenizers), not in sloserve's: `python make_tiny_model.py OUT`.

- Tokenizer: a byte-level BPE trained with `tokenizers` on text found on every machine (the
  sources of a fixed list of Python standard-library modules), saved as a fast tokenizer with
  begin/end-of-text tokens and a chat template.
- Model: `LlamaConfig` with hidden size 256, 2 layers, 4 attention heads, 2 KV heads and head
  dim 64 (vLLM's CPU attention wants 32, 64, 80, 96, 112, 128...), random bf16 weights from a
  fixed seed. About 7 MB. Its output is noise; what matters is that vLLM loads, schedules,
  tokenizes and streams it exactly as it would a real model.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import sys
from typing import Any

import tokenizers
import torch
import transformers
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

VOCAB_SIZE = 4096
MAX_POSITIONS = 4096
SEED = 20250101
BOS, EOS, PAD = "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"
START, END = "<|start_header|>", "<|end_header|>"
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    f"{START}{{{{ message['role'] }}}}{END}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}"
    "{{ part['text'] }}{% endif %}{% endfor %}{% endif %}{{ eos_token }}\n"
    "{% endfor %}"
    f"{{% if add_generation_prompt %}}{START}assistant{END}\n{{% endif %}}"
)
# Plain English prose and code, the same on every Python 3 installation.
CORPUS_MODULES = (
    "argparse", "textwrap", "json", "email.message", "http.client", "unittest.case",
    "logging", "asyncio.events", "collections", "dataclasses", "pathlib", "subprocess",
)  # fmt: skip


def corpus() -> list[str]:
    texts = []
    for name in CORPUS_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SystemExit(f"the standard library has no module {name}")
        texts.append(pathlib.Path(spec.origin).read_text(encoding="utf-8"))
    return texts


def train_tokenizer(texts: list[str]) -> Any:
    tokenizer = tokenizers.Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[BOS, EOS, PAD, START, END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, 0)]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=MAX_POSITIONS,
        chat_template=CHAT_TEMPLATE,
    )


def make_model(tokenizer: Any) -> Any:
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(SEED)
    return transformers.LlamaForCausalLM(config).to(torch.bfloat16)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=pathlib.Path, help="directory to write the model to")
    out: pathlib.Path = parser.parse_args(argv).out
    tokenizer = train_tokenizer(corpus())
    model = make_model(tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out, safe_serialization=True)
    # readable by any user: an engine pod may run as another user than the one who made it
    for path in out.iterdir():
        path.chmod(0o644)
    print(f"tiny model with {sum(p.numel() for p in model.parameters())} parameters in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
