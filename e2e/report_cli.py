"""Running `sloserve report` as its users do: the installed command, in a process of its own."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

#: The command installed beside this interpreter, as `pip install sloserve` puts it.
SLOSERVE = pathlib.Path(sys.executable).with_name("sloserve")
#: Time the command gets to take its first scrape once it says it started: a scrape of local
#: gateways answers in milliseconds, so traffic sent after this falls inside the window.
FIRST_SCRAPE_S = 2.0


def report_while(
    *, gateway_urls: Sequence[str], window_s: int, during: Callable[[], T]
) -> tuple[dict[str, Any], T]:
    """Runs `sloserve report --gateway ... --window <window_s>s --format json`, calls `during`
    once the window has begun, and returns the parsed JSON report with what `during` returned.
    `during` must end well inside the window. Fails the test with the command's standard error
    when it exits non-zero or `during` outlasts the window."""
    command = [str(SLOSERVE), "report", "--window", f"{window_s}s", "--format", "json"]
    for url in gateway_urls:
        command += ["--gateway", url]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        # The command announces the scrapes on standard error just before the first one.
        announced = process.stderr.readline()
        assert "scraping" in announced, f"sloserve report did not start: {announced!r}"
        time.sleep(FIRST_SCRAPE_S)
        began = time.monotonic()
        result = during()
        spent = time.monotonic() - began
        assert spent < window_s - FIRST_SCRAPE_S, (
            f"traffic took {spent:.1f} s of a {window_s} s window"
        )
        stdout, stderr = process.communicate(timeout=window_s + 60)
    assert process.returncode == 0, f"sloserve report exited {process.returncode}:\n{stderr}"
    report: dict[str, Any] = json.loads(stdout)
    return report, result


def class_counts(
    report: dict[str, Any], *, namespace: str, modelservice: str
) -> dict[str, dict[str, Any]]:
    """The `counts` of each class of one ModelService in a JSON report, by class name; fails the
    test naming the ModelServices the report has when that one is missing."""
    found = [
        service
        for cluster in report["clusters"]
        for space in cluster["namespaces"]
        for service in space["modelservices"]
        if (service["namespace"], service["name"]) == (namespace, modelservice)
    ]
    present = [
        f"{service['namespace']}/{service['name']}"
        for cluster in report["clusters"]
        for space in cluster["namespaces"]
        for service in space["modelservices"]
    ]
    assert len(found) == 1, f"no {namespace}/{modelservice} in the report, only {present}"
    return {slo_class["name"]: slo_class["counts"] for slo_class in found[0]["classes"]}
