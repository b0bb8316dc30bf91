"""`sloserve sim run` prints a summary, or JSON with --json."""

import json

from click.testing import CliRunner

from sloserve.cli import main


def test_run_prints_json_with_the_summary() -> None:
    result = CliRunner().invoke(
        main,
        ["sim", "run", "--profile", "synthetic", "--policy", "scorpio-full", "--qps", "20",
         "--requests", "100", "--engines", "2", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["policy"] == "scorpio-full"
    assert document["engines"] == 2
    overall = document["summary"]["overall"]
    assert overall["requests"] == 100
    assert 0.0 <= overall["adherence"] <= 1.0
    assert set(document["summary"]["by_class"]) == {"interactive", "standard", "batch"}


def test_run_prints_a_table_per_class() -> None:
    result = CliRunner().invoke(
        main, ["sim", "run", "--profile", "synthetic", "--requests", "60", "--qps", "5"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("policy=scorpio-full")
    assert any(line.startswith("interactive") for line in lines)
    assert any(line.startswith("all") for line in lines)


def test_a_wrong_number_of_slowdowns_names_the_option() -> None:
    result = CliRunner().invoke(
        main,
        ["sim", "run", "--profile", "synthetic", "--engines", "3",
         "--slowdown", "1", "--slowdown", "2"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--slowdown" in result.output


def test_an_unknown_profile_names_the_option() -> None:
    result = CliRunner().invoke(main, ["sim", "run", "--profile", "no-such-profile"])
    assert result.exit_code == 2
    assert "--profile" in result.output
