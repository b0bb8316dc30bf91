"""A real LoRA fine-tuning loop with Hugging Face transformers and PEFT, on random weights.

The base model is transformers' own `LlamaForCausalLM` built from a config of the Llama-3.2-1B
shape (16 layers, hidden 2048, 32 heads, 8 KV heads, MLP 8192, vocab 128256), initialised
randomly in bf16 on the GPU (no checkpoint download). PEFT wraps it with LoRA adapters (rank,
alpha and target modules as given); AdamW trains the adapters on random token batches. One
`step()` is what a fine-tuning worker runs per micro-batch: forward with labels, backward,
optimizer step, zero grad, and reading the loss back (a device sync). `tokens_per_step` is the
micro-batch size times the sequence length.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclasses.dataclass(frozen=True)
class BaseShape:
    """The Llama-shaped base model the adapters are trained on."""

    name: str = "llama-3.2-1b"
    layers: int = 16
    hidden: int = 2048
    heads: int = 32
    kv_heads: int = 8
    intermediate: int = 8192
    vocab: int = 128256


LLAMA32_1B = BaseShape()
TINY = BaseShape(
    name="tiny", layers=2, hidden=128, heads=4, kv_heads=2, intermediate=256, vocab=512
)


@dataclasses.dataclass(frozen=True)
class PeftSettings:
    rank: int = 16
    alpha: float = 32.0
    micro_batch: int = 4
    seq_len: int = 512
    targets: tuple[str, ...] = DEFAULT_TARGETS

    @property
    def tokens_per_step(self) -> int:
        return self.micro_batch * self.seq_len


def build_base(shape: BaseShape, *, device: torch.device, seq_len: int) -> torch.nn.Module:
    """A randomly initialised `LlamaForCausalLM` of `shape`, bf16, on `device`."""
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=shape.vocab,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        max_position_embeddings=max(seq_len, 2048),
        rope_theta=500000.0,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with device:
            model = transformers.LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.to(device=device, dtype=torch.bfloat16)


class PeftTrainer:
    """The PEFT-wrapped model, its optimizer and one batch of random tokens."""

    def __init__(
        self,
        settings: PeftSettings,
        *,
        device: torch.device,
        seed: int,
        shape: BaseShape = LLAMA32_1B,
        base: torch.nn.Module | None = None,
    ) -> None:
        import peft

        self.settings = settings
        torch.manual_seed(seed)
        model = (
            base if base is not None else build_base(shape, device=device, seq_len=settings.seq_len)
        )
        config = peft.LoraConfig(
            r=settings.rank,
            lora_alpha=settings.alpha,
            target_modules=list(settings.targets),
            lora_dropout=0.0,
            bias="none",
            task_type="CAUSAL_LM",
        )
        self.model = peft.get_peft_model(model, config)
        self.model.train()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=1e-4, fused=device.type == "cuda")
        generator = torch.Generator(device=device).manual_seed(seed + 1)
        size = (settings.micro_batch, settings.seq_len)
        self.tokens = torch.randint(shape.vocab, size, device=device, generator=generator)

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def step(self) -> float:
        """One micro-batch: forward with labels, backward, AdamW step; returns the loss."""
        loss = self.model(input_ids=self.tokens, labels=self.tokens).loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def remove(self) -> torch.nn.Module:
        """The base model without the adapters (to wrap it again with other settings)."""
        base = self.model.unload()
        del self.optimizer
        return base


def settings_grid(
    micro_batches: Sequence[int], seq_lens: Sequence[int], ranks: Sequence[int]
) -> list[PeftSettings]:
    return [
        PeftSettings(rank=rank, alpha=2.0 * rank, micro_batch=batch, seq_len=seq)
        for rank in ranks
        for batch in micro_batches
        for seq in seq_lens
    ]
