"""The real loop refuses to start without a usable GPU, saying what to do, unless the CPU is
allowed (tests). torch is replaced by a stand-in: this checks the decision, not CUDA."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sloserve.finetune import peft_loop


def _torch(*, available: bool, usable: bool = True) -> Any:
    def zeros(*_: object, **__: object) -> None:
        if not usable:
            raise RuntimeError("CUDA error: all CUDA-capable devices are busy or unavailable")

    return SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: available), zeros=zeros)


def test_a_usable_gpu_is_used() -> None:
    assert peft_loop.choose_device(_torch(available=True), allow_cpu=False) == "cuda"


def test_no_gpu_refuses_to_start_naming_the_way_out() -> None:
    with pytest.raises(peft_loop.NoGpuError) as refused:
        peft_loop.choose_device(_torch(available=False), allow_cpu=False)
    message = str(refused.value)
    assert "torch.cuda.is_available() is False" in message
    assert "spec.gpuBudget.gpus" in message
    assert "--allow-cpu" in message


def test_a_gpu_that_cannot_allocate_is_not_usable() -> None:
    with pytest.raises(peft_loop.NoGpuError, match="busy or unavailable"):
        peft_loop.choose_device(_torch(available=True, usable=False), allow_cpu=False)


def test_the_cpu_flag_trains_on_the_cpu() -> None:
    assert peft_loop.choose_device(_torch(available=False), allow_cpu=True) == "cpu"
