"""The tiny Llama-architecture model real vLLM serves here, made once into the shared cache.

The model is made by `make_tiny_model.py`, run with the vLLM virtualenv's Python (it needs torch,
transformers and tokenizers); see that script for its shape. A finished model has a stamp file
beside it, so a build cut short is made again rather than served half-written.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from sloserve_dev.real_vllm import environment

NAME = "tiny-llama"
_SCRIPT = pathlib.Path(__file__).with_name("make_tiny_model.py")
_STAMP = ".made.json"


class ModelError(RuntimeError):
    """The model could not be made; the message shows the script's output."""


def model_dir(env: environment.VllmEnvironment) -> pathlib.Path:
    """Where the model of `env` lives (a directory vLLM takes as `--model`)."""
    return env.root / "models" / NAME


def made(env: environment.VllmEnvironment) -> pathlib.Path | None:
    """The model's directory if it was made completely, else None."""
    directory = model_dir(env)
    return directory if (directory / _STAMP).is_file() else None


def ensure(env: environment.VllmEnvironment, *, force: bool = False) -> pathlib.Path:
    """The model's directory, made first when missing (or always with `force`). Raises
    ModelError when the script fails."""
    with environment.build_lock(env.root):
        existing = None if force else made(env)
        if existing is not None:
            return existing
        directory = model_dir(env)
        if directory.exists():
            shutil.rmtree(directory)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=env.root, prefix="tmp-") as temp_dir:
            completed = subprocess.run(
                [str(env.python), str(_SCRIPT), str(directory)],
                env=env.process_env(temp_dir=pathlib.Path(temp_dir), kv_cache_gib=1),
                capture_output=True,
                text=True,
                check=False,
            )
        if completed.returncode != 0:
            raise ModelError(
                f"making the tiny model failed (exit {completed.returncode}):\n"
                f"{completed.stdout}{completed.stderr}"
            )
        sys.stderr.write(completed.stdout)
        record = {"seconds": round(time.monotonic() - started, 1), "vllm": env.vllm_version}
        (directory / _STAMP).write_text(json.dumps(record) + "\n")
    return directory


def build_record(env: environment.VllmEnvironment) -> dict[str, object]:
    """What making the model recorded (its duration); empty if it was not made."""
    stamp = model_dir(env) / _STAMP
    if not stamp.is_file():
        return {}
    loaded: dict[str, object] = json.loads(stamp.read_text())
    return loaded
