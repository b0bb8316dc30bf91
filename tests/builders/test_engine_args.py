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
    vllm = vllm_spec(args=["--max-num-seqs", "64"], gpus=1)
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
    # The API server refuses such a spec; a spec that never passed it is refused here too.
    spec = vllm_spec()
    engine = spec.engine.model_construct(**{**dict(spec.engine), "args": (flag,)})
    with pytest.raises(SpecError, match=r"spec\.engine\.args: --[a-z-]+ is set by the operator"):
        engine_args.engine_args(model=spec.model, engine=engine)


@pytest.mark.parametrize(
    "flag", ["--port", "--host=::", "--tensor-parallel-size=2", "-tp", "--pipeline_parallel_size=2"]
)
def test_the_models_refuse_args_that_set_operator_flags(flag: str) -> None:
    with pytest.raises(ValueError, match="is set by the operator"):
        vllm_spec(gpus=2, args=[flag])


def test_several_gpus_default_the_tensor_parallel_size() -> None:
    spec = vllm_spec(gpus=4)
    args = engine_args.engine_args(model=spec.model, engine=spec.engine)
    assert "--tensor-parallel-size=4" in args
    assert not any(arg.startswith("--pipeline-parallel-size") for arg in args)


def test_one_gpu_writes_no_parallel_flags() -> None:
    spec = vllm_spec(gpus=1)
    args = engine_args.engine_args(model=spec.model, engine=spec.engine)
    assert not any("parallel-size" in arg for arg in args)


def test_tensor_and_pipeline_sizes_come_from_their_fields() -> None:
    spec = vllm_spec(gpus=8, tensorParallelSize=4, pipelineParallelSize=2)
    args = engine_args.engine_args(model=spec.model, engine=spec.engine)
    assert "--tensor-parallel-size=4" in args
    assert "--pipeline-parallel-size=2" in args


def test_pipeline_size_alone_splits_the_gpus_between_stages() -> None:
    spec = vllm_spec(gpus=8, pipelineParallelSize=2)
    args = engine_args.engine_args(model=spec.model, engine=spec.engine)
    assert "--tensor-parallel-size=4" in args
    assert "--pipeline-parallel-size=2" in args


@pytest.mark.parametrize(
    ("gpus", "sizes"),
    [
        (4, {"tensorParallelSize": 2}),
        (3, {"pipelineParallelSize": 2}),
        (2, {"tensorParallelSize": 1}),
    ],
)
def test_parallel_sizes_that_do_not_multiply_to_the_gpus_are_refused(
    gpus: int, sizes: dict[str, int]
) -> None:
    with pytest.raises(
        ValueError, match="tensorParallelSize × pipelineParallelSize must equal gpus"
    ):
        vllm_spec(gpus=gpus, **sizes)


def test_a_hub_model_source_names_the_model_and_its_revision() -> None:
    spec = vllm_spec(modelSource={"hub": "meta-llama/Llama-3.1-8B", "revision": "0e9e39f"})
    args = engine_args.engine_args(model=spec.model, engine=spec.engine)
    assert args[:2] == ("--model=meta-llama/Llama-3.1-8B", "--revision=0e9e39f")
    assert "--served-model-name=meta-llama/Llama-3.1-8B-Instruct" in args


def test_a_path_model_source_is_a_directory_of_the_model_cache() -> None:
    spec = vllm_spec(
        modelCache={"persistentVolumeClaim": {"claimName": "weights"}, "mountPath": "/cache"},
        modelSource={"path": "llama/8b-instruct"},
    )
    args = engine_args.engine_args(model=spec.model, engine=spec.engine)
    assert args[0] == "--model=/cache/llama/8b-instruct"
    assert engine_args.model_location(model=spec.model, engine=spec.engine) == (
        "/cache/llama/8b-instruct"
    )


def test_engine_args_is_a_pure_function_of_model_and_engine() -> None:
    spec = vllm_spec(gpus=2, args=["--max-num-seqs=64"])
    first = engine_args.engine_args(model=spec.model, engine=spec.engine, listen_host="::")
    assert first == engine_args.engine_args(model=spec.model, engine=spec.engine, listen_host="::")
    assert "--host=::" in first
