"""Which local command stands in for a container image.

There is no container runtime here: a container runs as a process of this Python installation.
An image whose name contains `sloserve` is the sloserve image (entrypoint `sloserve`, and Python
inside); an image whose name contains `vllm` is served by sloserve's engine simulator, which
accepts vLLM's command-line flags. Nothing else can run.

The `sloserve` command runs as `<python> -c <SLOSERVE_CLI> <args>`: the CLI of the installed
package, run by this interpreter, as `python -m sloserve` would run it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence

# Entrypoints of the vLLM images (`vllm serve`, and the older OpenAI-server module); what follows
# them is vLLM's own arguments, which the simulator takes unchanged.
SLOSERVE_CLI = "from sloserve.cli import main; main(prog_name='sloserve')"
_VLLM_ENTRYPOINTS: tuple[tuple[str, ...], ...] = (
    ("vllm", "serve"),
    ("python3", "-m", "vllm.entrypoints.openai.api_server"),
    ("python", "-m", "vllm.entrypoints.openai.api_server"),
)


class ImageNotRunnableError(Exception):
    """The image (or the command asked of it) has no local stand-in; `reason` is the
    container's waiting reason, as a real kubelet would report it."""

    def __init__(self, *, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclasses.dataclass(frozen=True)
class ImageMapping:
    """Maps container images to argv of the Python interpreter `python`."""

    python: str = sys.executable

    def argv(self, *, image: str, command: Sequence[str], args: Sequence[str]) -> list[str]:
        """The argv that runs a container of `image` with its `command` and `args` (already
        $(VAR)-expanded). Raises ImageNotRunnableError."""
        name = image.lower()
        if "sloserve" in name:
            return self._sloserve(image=image, command=command, args=args)
        if "vllm" in name:
            return self._vllm(image=image, command=command, args=args)
        raise ImageNotRunnableError(
            reason="ErrImagePull",
            message=(
                f"image {image!r} has no local stand-in: the local kubelet runs images whose "
                "name contains 'sloserve' (the sloserve CLI) or 'vllm' (sloserve's engine "
                "simulator)"
            ),
        )

    def _cli(self, *args: str) -> list[str]:
        return [self.python, "-c", SLOSERVE_CLI, *args]

    def _sloserve(self, *, image: str, command: Sequence[str], args: Sequence[str]) -> list[str]:
        if not command:
            return self._cli(*args)
        program = os.path.basename(command[0])
        if program == "sloserve":
            return self._cli(*command[1:], *args)
        if _is_python(program):
            return [self.python, *command[1:], *args]
        raise ImageNotRunnableError(
            reason="CreateContainerError",
            message=(
                f"command {command[0]!r} of image {image!r} has no local stand-in: the local "
                "kubelet runs `sloserve` and `python` from the sloserve image"
            ),
        )

    def _vllm(self, *, image: str, command: Sequence[str], args: Sequence[str]) -> list[str]:
        engine_args = list(args)
        if command:
            entrypoint = next(
                (known for known in _VLLM_ENTRYPOINTS if tuple(command[: len(known)]) == known),
                None,
            )
            if entrypoint is None:
                raise ImageNotRunnableError(
                    reason="CreateContainerError",
                    message=(
                        f"command {list(command)!r} of image {image!r} has no local stand-in: "
                        "the local kubelet runs the engine simulator in place of "
                        "`vllm serve` and `python3 -m vllm.entrypoints.openai.api_server`"
                    ),
                )
            engine_args = [*command[len(entrypoint) :], *args]
        return self._cli("engine-sim", *engine_args)


def _is_python(program: str) -> bool:
    if program in ("python", "python3"):
        return True
    version = program.removeprefix("python3.")
    return version != program and version.isdigit()
