"""The engine command line: vLLM serve flags, the same for simulated engines."""

from __future__ import annotations

import pytest
from builder_specs import make_spec, vllm_spec

from sloserve.builders import engine_args
from sloserve.builders.errors import SpecError


def test_vllm_engine_gets_model_name_host_and_port_flags() -> None:
    spec = vllm_spec(port=9000, args=["--max-num-seqs=256"])
    args = engine_args.engine_args(model=spec.model, engine=spec.engine)
    assert args == (
        "--model=meta-llama/Llama-3.1-8B-Instruct",
        "--served-model-name=meta-llama/Llama-3.1-8B-Instruct",
        "--host=0.0.0.0",
        "--port=9000",
        "--max-num-seqs=256",
    )
    assert engine_args.engine_command(spec.engine) is None


def test_sim_engine_runs_engine_sim_with_vllm_arguments_and_its_profile() -> None:
    sim = make_spec(engine={"args": ["--max-num-seqs", "64"], "profile": "a100-small"})
    vllm = vllm_spec(args=["--max-num-seqs", "64"], gpus=0)
    assert engine_args.engine_command(sim.engine) == ("sloserve", "engine-sim")
    sim_args = engine_args.engine_args(model=sim.model, engine=sim.engine)
    vllm_args = engine_args.engine_args(model=vllm.model, engine=vllm.engine)
    assert [arg for arg in sim_args if arg != "--profile=a100-small"] == list(vllm_args)
    assert "--profile=a100-small" in sim_args


def test_profile_from_args_is_kept_for_sim_engines() -> None:
    sim = make_spec(engine={"args": ["--profile", "synthetic"]})
    args = engine_args.engine_args(model=sim.model, engine=sim.engine)
    assert not any(arg.startswith("--profile=") for arg in args)
    assert args[-2:] == ("--profile", "synthetic")


def test_model_flag_from_args_replaces_the_default_model() -> None:
    spec = vllm_spec(args=["--model=/models/llama"])
    args = engine_args.engine_args(model=spec.model, engine=spec.engine)
    assert [arg for arg in args if arg.startswith("--model")] == ["--model=/models/llama"]
    assert "--served-model-name=meta-llama/Llama-3.1-8B-Instruct" in args


@pytest.mark.parametrize("flag", ["--port", "--port=9", "--host=::", "--served-model-name=x"])
def test_args_that_set_operator_flags_are_refused_naming_the_field(flag: str) -> None:
    spec = vllm_spec(args=[flag])
    with pytest.raises(SpecError, match=r"spec\.engine\.args: --[a-z-]+ is set by the operator"):
        engine_args.engine_args(model=spec.model, engine=spec.engine)


def test_several_gpus_default_the_tensor_parallel_size() -> None:
    spec = vllm_spec(gpus=4)
    assert "--tensor-parallel-size=4" in engine_args.engine_args(
        model=spec.model, engine=spec.engine
    )


def test_tensor_parallel_size_from_args_is_kept() -> None:
    spec = vllm_spec(gpus=4, args=["-tp", "2"])
    args = engine_args.engine_args(model=spec.model, engine=spec.engine)
    assert "--tensor-parallel-size=4" not in args
    assert args[-2:] == ("-tp", "2")
