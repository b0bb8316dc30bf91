"""Engine arguments checked with vLLM's own argument parser, without starting anything.

`parse_serve_args.py` runs in the vLLM virtualenv (vLLM cannot be imported into sloserve's
process: it is another virtualenv, with its own torch); it builds `vllm serve`'s parser exactly
as vLLM does and reports what it parsed, or vLLM's own error message.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from sloserve_dev.real_vllm import environment

_SCRIPT = pathlib.Path(__file__).with_name("parse_serve_args.py")


class RejectedArgumentsError(ValueError):
    """vLLM's parser refused the arguments; the message is vLLM's."""


def parse(env: environment.VllmEnvironment, arguments: Sequence[str]) -> Mapping[str, Any]:
    """What vLLM's parser makes of `arguments` (`vllm serve`'s flags, without `serve`): each
    destination's value, e.g. `{"tensor_parallel_size": 2, "served_model_name": ["m"], ...}`.
    Raises RejectedArgumentsError with vLLM's message for an unknown or malformed flag."""
    (outcome,) = parse_all(env, [arguments])
    if isinstance(outcome, RejectedArgumentsError):
        raise outcome
    return outcome


def parse_all(
    env: environment.VllmEnvironment, command_lines: Sequence[Sequence[str]]
) -> list[Mapping[str, Any] | RejectedArgumentsError]:
    """`parse` of each command line, in one run of vLLM's parser (importing vLLM takes tens of
    seconds): the parsed values, or the RejectedArgumentsError vLLM's message makes."""
    with tempfile.TemporaryDirectory(prefix="vllm-args-") as temp_dir:
        result_path = pathlib.Path(temp_dir) / "result.json"
        completed = subprocess.run(
            [str(env.python), str(_SCRIPT), str(result_path)],
            input=json.dumps([list(line) for line in command_lines]),
            env=env.process_env(temp_dir=pathlib.Path(temp_dir), kv_cache_gib=1),
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0 or not result_path.is_file():
            raise RuntimeError(
                f"vLLM's argument parser could not be run (exit {completed.returncode}):\n"
                f"{completed.stdout}{completed.stderr}"
            )
        results: list[dict[str, Any]] = json.loads(result_path.read_text())
    return [
        result["parsed"] if result["ok"] else RejectedArgumentsError(str(result["error"]))
        for result in results
    ]
