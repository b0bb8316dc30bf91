"""A small client of a Prometheus server's HTTP API: instant and range queries.

Failures become `CollectError`s that name the server's URL and say what to check, because the
first thing a user of `sloserve report --prometheus URL` gets wrong is the URL.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from sloserve.report import samples
from sloserve.report.errors import CollectError

InstantVector = list[tuple[samples.LabelSet, float]]
RangeMatrix = list[tuple[samples.LabelSet, list[tuple[float, float]]]]


class PrometheusAPI:
    """Queries the Prometheus server at `base_url` (like http://localhost:9090) with `client`."""

    def __init__(self, *, base_url: str, client: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client

    def instant(self, query: str, *, at: float) -> InstantVector:
        """The vector `query` evaluates to at unix time `at`. Non-finite values are left out."""
        data = self._call("/api/v1/query", {"query": query, "time": _timestamp(at)}, query)
        return [
            (samples.label_set(item["metric"]), value)
            for item in _result(data, "vector", query)
            if math.isfinite(value := float(item["value"][1]))
        ]

    def range(self, query: str, *, start: float, end: float, step: float) -> RangeMatrix:
        """`query` evaluated at `start`, every `step` seconds after it, up to `end`."""
        data = self._call(
            "/api/v1/query_range",
            {
                "query": query,
                "start": _timestamp(start),
                "end": _timestamp(end),
                "step": f"{step:.3f}",
            },
            query,
        )
        return [
            (
                samples.label_set(item["metric"]),
                [
                    (float(time), value)
                    for time, text in item["values"]
                    if math.isfinite(value := float(text))
                ],
            )
            for item in _result(data, "matrix", query)
        ]

    def _call(self, path: str, form: dict[str, str], query: str) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = self._client.post(url, data=form)
        except httpx.HTTPError as error:
            raise CollectError(
                f"cannot reach Prometheus at {self.base_url}: {error or type(error).__name__}."
                " Check that Prometheus runs and that --prometheus is its base URL"
                " (like http://localhost:9090); without a Prometheus, scrape the gateways"
                " directly with --gateway URL."
            ) from error
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            raise CollectError(
                f"{url} did not answer like a Prometheus server (HTTP {response.status_code},"
                f" {response.headers.get('content-type', 'no content type')}):"
                " check that --prometheus is the server's base URL, like http://localhost:9090."
            )
        if body["status"] != "success":
            raise CollectError(
                f"Prometheus at {self.base_url} refused the query {query!r}:"
                f" {body.get('errorType', 'error')}: {body.get('error', 'no message')}"
            )
        return body["data"]


def _result(data: Any, expected: str, query: str) -> list[Any]:
    if not isinstance(data, dict) or data.get("resultType") != expected:
        kind = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise CollectError(f"Prometheus answered {query!r} with a {kind}, expected a {expected}")
    result: list[Any] = data["result"]
    return result


def _timestamp(unix_seconds: float) -> str:
    return f"{unix_seconds:.3f}"


def range_selector(seconds: float) -> str:
    """A PromQL range (`[300000ms]`) of `seconds`, in whole milliseconds."""
    return f"[{max(1, round(seconds * 1000))}ms]"
