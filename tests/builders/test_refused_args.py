"""Telling an engine's refusal of its own command line from its last error line."""

from __future__ import annotations

import pytest

from sloserve.builders.refused_args import RefusedArguments, refused_arguments


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "api_server.py: error: unrecognized arguments: --no-such-flag",
            RefusedArguments(flags=("--no-such-flag",), unknown=True),
        ),
        (
            "vllm serve: error: unrecognized arguments: --a=1 --b 3",
            RefusedArguments(flags=("--a=1", "--b"), unknown=True),
        ),
        (
            "api_server.py: error: argument --max-num-seqs: invalid int value: 'many'",
            RefusedArguments(flags=("--max-num-seqs",), unknown=False),
        ),
        (
            "api_server.py: error: argument --tensor-parallel-size/-tp: expected one argument",
            RefusedArguments(flags=("--tensor-parallel-size",), unknown=False),
        ),
    ],
)
def test_argparse_refusals_name_the_refused_flags(line: str, expected: RefusedArguments) -> None:
    assert refused_arguments(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        None,
        "",
        "RuntimeError: Engine core initialization failed. See root cause above.",
        "ValueError: error: argument parsing is fine, the model is not",
    ],
)
def test_other_failures_are_no_refusal(line: str | None) -> None:
    assert refused_arguments(line) is None


def test_each_refused_flag_is_named_with_its_place_in_the_spec_in_any_spelling() -> None:
    refused = RefusedArguments(flags=("--no_such-flag=2", "--other"), unknown=True)
    args = ("--max-num-seqs=4", "--no-such-flag=2", "--other", "x")
    assert refused.describe(args) == (
        "unknown flags spec.engine.args[1] --no_such-flag=2, spec.engine.args[2] --other"
    )
    assert not refused.outside(args)


def test_a_refused_flag_missing_from_the_spec_is_named_without_a_place() -> None:
    refused = RefusedArguments(flags=("--device",), unknown=True)
    assert refused.describe(("--max-num-seqs=4",)) == "unknown flag --device"
    assert refused.outside(("--max-num-seqs=4",))
