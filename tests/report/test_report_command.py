"""`sloserve report` end to end against real HTTP endpoints: its output, its exit status, and its
messages for the cases a user meets first (no traffic, no gateway, nothing listening)."""

from __future__ import annotations

import json
import pathlib
import socket

from click.testing import CliRunner

from report import recorded, served
from sloserve.cli import main


def _data(name: str) -> str:
    return (recorded.DATA / name).read_text()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_report_from_a_gateway_writes_json_and_exits_zero(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "report.json"
    with served.metrics_endpoint([_data("gateway-0.prom"), _data("gateway-2.prom")]) as url:
        result = CliRunner().invoke(
            main,
            [
                *("report", "--gateway", url, "--window", "1s", "--step", "1s"),
                *("--format", "json", "--output", str(output)),
            ],
        )
    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text())
    assert document["schema_version"] == "sloserve.io/report/v1"
    assert document["clusters"][0]["counts"]["requests"] == 500
    assert document["source"] == {"kind": "gateways", "urls": [f"{url}/metrics"]}


def test_window_without_traffic_says_so_and_exits_three(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "report.md"
    with served.metrics_endpoint([_data("gateway-0.prom")]) as url:
        result = CliRunner().invoke(
            main,
            [
                *("report", "--gateway", url, "--window", "1s"),
                *("--format", "markdown", "--output", str(output)),
            ],
        )
    assert result.exit_code == 3
    assert "no requests in the 1s window" in result.output
    assert "Traceback" not in result.output
    assert "no requests in the 1s window" in output.read_text()


def test_source_without_gateway_metrics_is_an_error_naming_what_to_check() -> None:
    with served.metrics_endpoint([_data("engine-1-0.prom")]) as url:
        result = CliRunner().invoke(main, ["report", "--gateway", url, "--window", "1s"])
    assert result.exit_code == 1
    assert "no sloserve gateway metrics" in result.output
    assert "check that each --gateway URL is a sloserve gateway's metrics endpoint" in result.output


def test_unreachable_prometheus_names_the_url_without_a_traceback() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(main, ["report", "--prometheus", url])
    assert result.exit_code == 1
    assert f"cannot reach Prometheus at {url}" in result.output
    assert "Check that Prometheus runs" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_exactly_one_source_is_required() -> None:
    result = CliRunner().invoke(main, ["report"])
    assert result.exit_code == 2
    assert "choose one source" in result.output


def test_bad_window_names_the_option() -> None:
    result = CliRunner().invoke(main, ["report", "--prometheus", "http://p", "--window", "5x"])
    assert result.exit_code == 2
    assert "--window" in result.output
    assert "invalid duration '5x'" in result.output


def test_end_needs_prometheus() -> None:
    result = CliRunner().invoke(main, ["report", "--gateway", "http://g", "--end", "1700000000"])
    assert result.exit_code == 2
    assert "--end needs --prometheus" in result.output
