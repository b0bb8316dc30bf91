"""The engine command-line flags the operator derives from other fields, and how to tell whether
`engine.args` sets one.

vLLM's parser reads `--flag value`, `--flag=value` and the underscore spelling
(`--tensor_parallel_size`) alike; each check here accepts all three, in Python and in CEL, so that
the API server refuses what the parser would read as a second value of a derived flag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sloserve.api import cel

__all__ = [
    "MODEL_FLAGS",
    "OWNED_FLAGS",
    "REVISION_FLAGS",
    "OwnedFlag",
    "cel_sets_flag",
    "first_owned_flag",
    "flag_value",
    "sets_flag",
]


@dataclasses.dataclass(frozen=True)
class OwnedFlag:
    """A flag (with its other spellings) and the field it comes from."""

    spellings: tuple[str, ...]
    source: str


#: Flags always derived from other fields; `engine.args` may never set them.
OWNED_FLAGS = (
    OwnedFlag(("--served-model-name",), "spec.model (the id clients send)"),
    OwnedFlag(("--host",), "the operator's engines.listen_host setting"),
    OwnedFlag(("--port",), "engine.port"),
    OwnedFlag(("--tensor-parallel-size", "-tp"), "engine.tensorParallelSize"),
    OwnedFlag(("--pipeline-parallel-size", "-pp"), "engine.pipelineParallelSize"),
)
#: The weights to load: from `spec.model` by default, from `engine.modelSource` when set.
MODEL_FLAGS = ("--model",)
#: The hub revision: from `engine.modelSource.revision` when set.
REVISION_FLAGS = ("--revision",)


def _normalized(arg: str) -> str:
    name, equals, value = arg.partition("=")
    return name.replace("_", "-") + equals + value


def sets_flag(args: Sequence[str], spellings: Sequence[str]) -> bool:
    """Whether `args` sets the flag of any of `spellings` (`--flag`, `--flag=...`, or the
    underscore spelling of either)."""
    for arg in args:
        normal = _normalized(arg)
        if any(normal == flag or normal.startswith(f"{flag}=") for flag in spellings):
            return True
    return False


def flag_value(args: Sequence[str], spellings: Sequence[str]) -> str | None:
    """The value `args` gives the flag of `spellings` (`--flag=value` or `--flag value`); the
    last one wins, as in vLLM's parser. None when unset."""
    value: str | None = None
    for index, arg in enumerate(args):
        name, equals, given = _normalized(arg).partition("=")
        if name not in spellings:
            continue
        if equals:
            value = given
        elif index + 1 < len(args):
            value = args[index + 1]
    return value


def first_owned_flag(args: Sequence[str]) -> OwnedFlag | None:
    """The first of `OWNED_FLAGS` that `args` sets, if any."""
    return next((flag for flag in OWNED_FLAGS if sets_flag(args, flag.spellings)), None)


def _spellings(flags: Sequence[str]) -> list[str]:
    every: list[str] = []
    for flag in flags:
        for spelling in (flag, flag[:2] + flag[2:].replace("-", "_")):
            if spelling not in every:
                every.append(spelling)
    return every


def cel_sets_flag(spellings: Sequence[str], *, args: str = "self.args") -> str:
    """A CEL expression: whether the list `args` sets the flag of any of `spellings` (or their
    underscore spellings). Written with `==` and `startsWith` only, whose cost the API server
    bounds by the flag's length rather than the argument's."""
    tests = " || ".join(
        f"a == {cel.string_literal(flag)} || a.startsWith({cel.string_literal(flag + '=')})"
        for flag in _spellings(spellings)
    )
    return f"(has({args}) && {args}.exists(a, {tests}))"
