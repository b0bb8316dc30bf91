"""Running `sloserve report` as its users do: the installed command, in a process of its own."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from e2e import waiting

T = TypeVar("T")

#: The command installed beside this interpreter, as `pip install sloserve` puts it.
SLOSERVE = pathlib.Path(sys.executable).with_name("sloserve")


def report_while(
    *,
    gateway_urls: Sequence[str],
    window_s: int,
    during: Callable[[], T],
    connections: Callable[[], int],
) -> tuple[dict[str, Any], T]:
    """Runs `sloserve report --gateway ... --window <window_s>s --format json`, calls `during`
    once the command has taken its first scrape (seen as one connection per gateway more in
    `connections`, a count of connections to the gateways), and returns the parsed JSON report
    with what `during` returned. Whether `during` ended inside the window is for the caller to
    check in the report's counts. Fails the test with the command's standard error when it
    exits non-zero."""
    command = [str(SLOSERVE), "report", "--window", f"{window_s}s", "--format", "json"]
    for url in gateway_urls:
        command += ["--gateway", url]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        # The command announces the scrapes on standard error just before the first one.
        before = connections()
        announced = process.stderr.readline()
        assert "scraping" in announced, f"sloserve report did not start: {announced!r}"
        waiting.until(
            lambda: connections() >= before + len(gateway_urls),
            what="see sloserve report's first scrape of the gateways",
            timeout_s=window_s,
        )
        result = during()
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
