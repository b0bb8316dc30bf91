"""An engine that exited because its parser refused its command line, told from its error line.

vLLM parses its flags with argparse (its `FlexibleArgumentParser`), which ends a refusal with one
of two lines before exiting with status 2:

    api_server.py: error: unrecognized arguments: --no-such-flag --other=1
    api_server.py: error: argument --max-num-seqs: invalid int value: 'many'

Such an engine fails the same way on every restart, so the operator reports it at its first
exit, naming the flags and where in `spec.engine.args` they are, instead of waiting for a crash
loop.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

__all__ = ["RefusedArguments", "refused_arguments"]

_UNRECOGNIZED = re.compile(r"\berror: unrecognized arguments: (?P<given>.+?)\s*$")
# argparse names an option by all its spellings, e.g. `argument --tensor-parallel-size/-tp: ...`
_BAD_VALUE = re.compile(r"\berror: argument (?P<spellings>-[^:\s]*(?:/-[^:\s]*)*): (?P<why>.+)$")


@dataclasses.dataclass(frozen=True)
class RefusedArguments:
    """The flags an engine's parser refused (as the line gives them, `--x=1` included), and
    whether they were unknown to it or given a bad value."""

    flags: tuple[str, ...]
    unknown: bool

    def describe(self, args: Sequence[str]) -> str:
        """The refused flags, each with its index in `args` (`spec.engine.args`) where it is
        there, e.g. `spec.engine.args[1] --no-such-flag`; a flag not found there is one the
        operator renders from other fields, or one the image adds."""
        named = []
        for flag in self.flags:
            index = _index_of(args, flag)
            where = f"spec.engine.args[{index}] " if index is not None else ""
            named.append(f"{where}{flag}")
        what = "unknown flag" if self.unknown else "bad value of"
        if self.unknown and len(named) > 1:
            what = "unknown flags"
        return f"{what} {', '.join(named)}"

    def outside(self, args: Sequence[str]) -> bool:
        """Whether none of the refused flags is in `args`."""
        return all(_index_of(args, flag) is None for flag in self.flags)


def _flag_name(arg: str) -> str:
    return arg.partition("=")[0].replace("_", "-")


def _index_of(args: Sequence[str], flag: str) -> int | None:
    wanted = _flag_name(flag)
    for index, arg in enumerate(args):
        if arg == flag or (arg.startswith("-") and _flag_name(arg) == wanted):
            return index
    return None


def refused_arguments(error_line: str | None) -> RefusedArguments | None:
    """The flags that `error_line` (an engine's last error line) says its parser refused, or
    None when the line is not such a refusal."""
    if not error_line:
        return None
    unrecognized = _UNRECOGNIZED.search(error_line)
    if unrecognized is not None:
        given = unrecognized["given"].split()
        # The values of unknown flags are listed too (`--x 3`); only the flags name the fault.
        flags = tuple(token for token in given if token.startswith("-")) or tuple(given)
        return RefusedArguments(flags=flags, unknown=True)
    bad_value = _BAD_VALUE.search(error_line)
    if bad_value is not None:
        return RefusedArguments(flags=(bad_value["spellings"].split("/")[0],), unknown=False)
    return None
