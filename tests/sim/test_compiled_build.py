"""The compiled build (setup.py) simulates exactly what the pure-Python sources do."""

import dataclasses
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sim_helpers import OVERLOAD_QPS, run, scorpio_workload

import sloserve
from sloserve import build_info

PACKAGE_DIR = Path(sloserve.__file__).parent

# Runs in a child interpreter that imports the package from a copy of its sources only.
SIMULATE = """
import json, sys
sys.path.insert(0, {tests_dir!r})
import test_compiled_build
from sloserve import build_info
runs = {{policy: test_compiled_build.records(policy, engines) for policy, engines in {runs!r}}}
print(json.dumps({{"compiled": build_info.compiled_modules(), "runs": runs}}))
"""
RUNS = (("scorpio-full", 2), ("fcfs", 1))


def records(policy: str, engines: int) -> list[list[str]]:
    """Every field of every record of an overloaded run, as text that compares exactly."""
    result = run(scorpio_workload(count=300, qps=OVERLOAD_QPS, seed=3), policy, engines=engines)
    return [[repr(value) for value in dataclasses.astuple(record)] for record in result.records]


def test_every_compiled_module_has_its_source_in_the_package() -> None:
    for module in build_info.COMPILED_MODULES:
        relative = build_info.source_path(module).removeprefix("src/sloserve/")
        assert (PACKAGE_DIR / relative).is_file(), module
        assert importlib.import_module(module).__name__ == module


@pytest.mark.skipif(
    not build_info.compiled_modules(),
    reason="this installation runs every module as pure Python (SLOSERVE_PURE_PYTHON=1)",
)
def test_compiled_simulation_gives_the_records_of_the_pure_python_sources(
    tmp_path: Path,
) -> None:
    source_only = build_info.pure_python_copy(tmp_path)
    script = SIMULATE.format(tests_dir=str(Path(__file__).parent), runs=RUNS)
    completed = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(source_only), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    pure = json.loads(completed.stdout)

    assert pure["compiled"] == []
    assert build_info.compiled_modules() == list(build_info.COMPILED_MODULES)
    for policy, engines in RUNS:
        assert pure["runs"][policy] == records(policy, engines), policy
