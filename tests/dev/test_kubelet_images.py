"""Which local command stands in for a container image."""

from __future__ import annotations

import pytest

from sloserve.dev.kubelet import images

MAPPING = images.ImageMapping(python="/opt/python")
SLOSERVE = ["/opt/python", "-c", images.SLOSERVE_CLI]


def test_sloserve_image_without_command_runs_the_sloserve_cli_with_its_args() -> None:
    argv = MAPPING.argv(image="ghcr.io/acme/sloserve:1.0", command=[], args=["gateway", "--x"])

    assert argv == [*SLOSERVE, "gateway", "--x"]


def test_sloserve_command_and_args_are_honoured() -> None:
    argv = MAPPING.argv(
        image="sloserve:dev", command=["/usr/local/bin/sloserve", "operator"], args=["--debug"]
    )

    assert argv == [*SLOSERVE, "operator", "--debug"]


@pytest.mark.parametrize("program", ["python", "python3", "/usr/bin/python3.12"])
def test_python_in_the_sloserve_image_is_this_interpreter(program: str) -> None:
    argv = MAPPING.argv(image="sloserve:dev", command=[program, "-c"], args=["pass"])

    assert argv == ["/opt/python", "-c", "pass"]


@pytest.mark.parametrize(
    "command",
    [[], ["vllm", "serve"], ["python3", "-m", "vllm.entrypoints.openai.api_server"]],
)
def test_vllm_image_runs_the_engine_simulator_with_the_same_args(command: list[str]) -> None:
    argv = MAPPING.argv(
        image="vllm/vllm-openai:v0.10.0", command=command, args=["--model", "m", "--port", "80"]
    )

    assert argv == [*SLOSERVE, "engine-sim", "--model", "m", "--port", "80"]


def test_vllm_serve_positional_model_is_passed_on() -> None:
    argv = MAPPING.argv(image="vllm/vllm-openai", command=["vllm", "serve", "org/model"], args=[])

    assert argv[-1] == "org/model"


def test_unknown_image_is_refused_like_a_failed_pull() -> None:
    with pytest.raises(images.ImageNotRunnableError) as refused:
        MAPPING.argv(image="redis:7", command=[], args=[])

    assert refused.value.reason == "ErrImagePull"
    assert "redis:7" in refused.value.message


def test_unknown_command_of_the_sloserve_image_is_refused_naming_it() -> None:
    with pytest.raises(images.ImageNotRunnableError) as refused:
        MAPPING.argv(image="sloserve:dev", command=["bash", "-c", "x"], args=[])

    assert refused.value.reason == "CreateContainerError"
    assert "'bash'" in refused.value.message
