"""The real PEFT loop on a tiny random Llama, when torch, transformers and peft are installed
(the `finetune` extra); without them, the loop refuses with how to install them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sloserve.finetune import peft_loop, trainer

HAVE_EXTRA = all(importlib.util.find_spec(name) for name in ("torch", "transformers", "peft"))


@pytest.mark.skipif(HAVE_EXTRA, reason="the finetune extra is installed")
def test_without_the_extra_it_says_how_to_install_it() -> None:
    with pytest.raises(peft_loop.MissingExtraError, match=r"sloserve\[finetune\]"):
        peft_loop.require_extra()


@pytest.mark.skipif(not HAVE_EXTRA, reason="needs torch, transformers and peft")
def test_real_steps_lower_the_loss_and_resume_from_the_checkpoint(tmp_path: Path) -> None:
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    model_dir = tmp_path / "model"
    transformers.LlamaForCausalLM(config).save_pretrained(model_dir)
    settings = trainer.TrainerSettings(total_steps=6, micro_batch=2, seq_len=16, rank=4)
    store = trainer.CheckpointStore(tmp_path / "checkpoints")
    loop = peft_loop.PeftTrainer(
        settings, model=str(model_dir), now_s=0.0, store=store, device="cpu", learning_rate=1e-2
    )
    assert loop.trainable_parameters() > 0
    for tick in range(3):
        assert loop.advance(float(tick) * 100) == 1
    loop.pause(300.0)
    first = loop.status()
    assert first.checkpoint_step == 3
    resumed = peft_loop.PeftTrainer(
        settings, model=str(model_dir), now_s=0.0, store=store, device="cpu"
    )
    assert resumed.status().completed_steps == 3
    now_s = 0.0
    while resumed.status().state is not trainer.TrainerState.DONE:
        now_s += 100.0
        resumed.advance(now_s)
    assert resumed.status().completed_steps == 6
