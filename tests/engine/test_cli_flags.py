"""`sloserve engine-sim` takes vLLM's serve flags and its own."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from click.testing import CliRunner

from sloserve.cli import engine_sim
from sloserve.engine import config


def _settings(**overrides: Any) -> Any:
    flags: dict[str, Any] = {
        "model": None,
        "served_model_names": (),
        "max_num_seqs": None,
        "max_num_batched_tokens": None,
        "scheduling_policy": "fcfs",
        "gpu_memory_utilization": 0.9,
        "block_size": 16,
        "max_model_len": 8192,
        "tensor_parallel_size": 1,
        "enable_chunked_prefill": True,
        "num_gpu_blocks_override": None,
        "profile_reference": "synthetic",
        "slowdown": 1.0,
        "time_scale": 1.0,
        "cpu_overhead_ms": None,
    }
    return engine_sim.build_settings(**(flags | overrides))


def test_defaults_are_vllms_on_an_h100_class_profile() -> None:
    settings = _settings(model="meta-llama/Llama-3.1-8B-Instruct")
    engine = settings.engine
    assert (engine.max_num_seqs, engine.max_num_batched_tokens) == (1024, 8192)
    assert (engine.block_size, engine.policy) == (16, config.Policy.FCFS)
    assert settings.served_model_names == ("meta-llama/Llama-3.1-8B-Instruct",)


def test_flags_set_the_engine_limits_and_policy() -> None:
    settings = _settings(
        model="m",
        served_model_names=("a", "b"),
        max_num_seqs=128,
        max_num_batched_tokens=4096,
        scheduling_policy="credit",
        num_gpu_blocks_override=5000,
        max_model_len=4096,
        slowdown=1.5,
        time_scale=0.0,
    )
    engine = settings.engine
    assert (engine.max_num_seqs, engine.max_num_batched_tokens) == (128, 4096)
    assert (engine.num_gpu_blocks, engine.max_model_len) == (5000, 4096)
    assert engine.policy is config.Policy.CREDIT
    assert settings.served_model_names == ("a", "b")
    assert (settings.slowdown, settings.time_scale) == (1.5, 0.0)


@pytest.mark.parametrize(
    ("override", "flag"),
    [
        ({"slowdown": 0.0}, "--slowdown"),
        ({"time_scale": -1.0}, "--time-scale"),
        ({"max_num_seqs": 9000}, "--max-num-batched-tokens"),
        ({"profile_reference": "no-such-profile"}, "--profile"),
        ({"max_num_seqs": 0}, "--max-num-seqs"),
        ({"max_num_batched_tokens": 0}, "--max-num-batched-tokens"),
    ],
)
def test_a_bad_value_is_refused_naming_the_flag(override: dict[str, Any], flag: str) -> None:
    with pytest.raises(ValueError, match=flag):
        _settings(**override)


def test_unknown_vllm_flags_are_warned_about_and_a_positional_model_is_taken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        model = engine_sim.warn_about_extra_arguments(
            ["meta-llama/Llama-3.1-8B", "--dtype", "bfloat16", "--enforce-eager", "--seed=3"]
        )
    assert model == "meta-llama/Llama-3.1-8B"
    assert "--dtype bfloat16" in caplog.text
    assert "--enforce-eager" in caplog.text
    assert "--seed=3" in caplog.text


def test_a_bad_flag_value_stops_the_command_with_a_usage_error() -> None:
    result = CliRunner().invoke(engine_sim.engine_sim, ["--profile", "no-such-profile"])
    assert result.exit_code == 2
    assert "--profile" in result.output
