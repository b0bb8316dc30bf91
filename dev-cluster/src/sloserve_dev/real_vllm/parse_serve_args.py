"""Parse `vllm serve` arguments with vLLM's own parser, and say what it made of them. Runs in the
vLLM virtualenv: `python parse_serve_args.py RESULT` with a JSON list of command lines (each a
list of arguments) on stdin; importing vLLM is what takes long, so one run parses them all.

The parser is built as vLLM's OpenAI server builds it (`make_arg_parser` over a
`FlexibleArgumentParser`), then `validate_parsed_serve_args` runs its checks that need no model.
Nothing is loaded and nothing is reached. Writes a JSON list to RESULT (not to stdout, where
vLLM's logger writes), one object per command line: `{"ok": true, "parsed": {...}}` with every
parsed value (as JSON, or its `repr`), or `{"ok": false, "error": <vLLM's message>}`.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from typing import Any

from vllm.entrypoints.launchers import cli_args
from vllm.utils import argparse_utils


def _as_json(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def parse(arguments: list[str]) -> dict[str, Any]:
    parser = cli_args.make_arg_parser(argparse_utils.FlexibleArgumentParser(prog="vllm serve"))
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            namespace = parser.parse_args(arguments)
            cli_args.validate_parsed_serve_args(namespace)
    except SystemExit:
        # argparse printed "usage: ..." and the error line; keep the error line(s)
        lines = [line for line in errors.getvalue().splitlines() if not line.startswith(" ")]
        message = "\n".join(line for line in lines if not line.startswith("usage:"))
        return {"ok": False, "error": message.strip() or errors.getvalue().strip()}
    except Exception as error:  # vLLM's validation raises ValueError, TypeError, ...
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    parsed = {name: _as_json(value) for name, value in sorted(vars(namespace).items())}
    return {"ok": True, "parsed": parsed}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: parse_serve_args.py RESULT < command-lines.json", file=sys.stderr)
        return 2
    command_lines = json.load(sys.stdin)
    if not isinstance(command_lines, list) or not all(
        isinstance(line, list) and all(isinstance(a, str) for a in line) for line in command_lines
    ):
        print("stdin must be a JSON list of lists of strings", file=sys.stderr)
        return 2
    results = [parse(line) for line in command_lines]
    with open(argv[0], "w", encoding="utf-8") as out:
        json.dump(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
