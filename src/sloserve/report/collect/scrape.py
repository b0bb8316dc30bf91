"""Collecting without a Prometheus: scrape the gateways' (and engines') `/metrics` over the window.

Every target is scraped at the start of the window, every `step_seconds` after it, and at its end,
so a report over a 5-minute window takes 5 minutes to collect. Counter increases are the sum of the
differences between consecutive scrapes (a drop means the process restarted and counts from zero),
so they are exact, unlike Prometheus' extrapolated `increase()`. A target that cannot be reached at
the first scrape stops the collection; one that fails a later scrape is reported as a warning and
its remaining scrapes are used.

A URL written `dns+http://name:port` stands for every address `name` resolves to, looked up again
at each round, as Prometheus' DNS service discovery does: a Kubernetes headless Service names every
ready pod behind it that way. Each address is its own target (its own `instance`), so gateway
replicas are counted one by one; a Service's cluster address would hand each scrape to whichever
replica it picks, and differences between two replicas' counters mean nothing. An address that
stops answering (a replica removed during the window) becomes a warning.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import socket
import time
import urllib.parse
from collections.abc import Callable, Collection, Sequence

import httpx

from sloserve.report import counters, metric_names, samples
from sloserve.report.collect import exposition
from sloserve.report.errors import CollectError

_WANTED: frozenset[str] = frozenset(
    (
        *metric_names.COUNTERS,
        *(metric_names.bucket_series(name) for name in metric_names.HISTOGRAMS),
        *metric_names.GAUGES,
    )
)
_COUNTER_NAMES: frozenset[str] = _WANTED - frozenset(metric_names.GAUGES)

#: The prefix of a URL that stands for every address its host name resolves to.
DNS_PREFIX = "dns+"

#: Resolves a host name and port to its addresses (IPv4 or IPv6, as text).
Resolve = Callable[[str, int], Sequence[str]]


def resolve_addresses(host: str, port: int) -> list[str]:
    """Every distinct address `host` resolves to for TCP, in a stable order."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in found})


@dataclasses.dataclass(frozen=True)
class Target:
    """One endpoint to scrape; `role` ("gateway" or "engine") becomes its `job` label."""

    url: str
    role: str


@dataclasses.dataclass(frozen=True)
class _Scrape:
    # The round's planned time, shared by every target of the round, so the timeline's steps line
    # up across targets however long each scrape took.
    time: float
    values: exposition.ScrapedValues


def metrics_url(url: str) -> str:
    """`url` itself when it names a path, else its `/metrics` (so `http://gw:8080` works); a
    `dns+` prefix is kept."""
    discovered = url.startswith(DNS_PREFIX)
    parsed = urllib.parse.urlsplit(url.removeprefix(DNS_PREFIX))
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise CollectError(
            f"{url!r} is not an http(s) URL; write it like http://localhost:8080, or"
            " dns+http://gateway-pods:8080 for every address a name resolves to"
        )
    if discovered and (parsed.hostname is None or parsed.port is None):
        raise CollectError(
            f"{url!r} needs a host name and a port to resolve, like dns+http://gateway-pods:8080"
        )
    if parsed.path in ("", "/"):
        parsed = parsed._replace(path="/metrics")
    return (DNS_PREFIX if discovered else "") + urllib.parse.urlunsplit(parsed)


def _address_url(url: str, address: str) -> str:
    """`url` (without its `dns+` prefix) with its host replaced by `address`."""
    parsed = urllib.parse.urlsplit(url.removeprefix(DNS_PREFIX))
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    return urllib.parse.urlunsplit(parsed._replace(netloc=f"{host}:{parsed.port}"))


def _round_targets(
    targets: Sequence[Target], resolve: Resolve, *, first: bool
) -> tuple[list[tuple[Target, bool]], list[str]]:
    """This round's targets, each with whether it was discovered (so its failure is a warning
    even in the first round), and the warnings of lookups that failed after the first round."""
    current: list[tuple[Target, bool]] = []
    warnings: list[str] = []
    for target in targets:
        if not target.url.startswith(DNS_PREFIX):
            current.append((target, False))
            continue
        parsed = urllib.parse.urlsplit(target.url.removeprefix(DNS_PREFIX))
        # metrics_url refused dns+ URLs without a host and a port.
        assert parsed.hostname is not None
        assert parsed.port is not None
        try:
            addresses = list(resolve(parsed.hostname, parsed.port))
        except OSError as error:
            addresses, problem = [], f"cannot resolve {parsed.hostname}: {error}"
        else:
            problem = f"{parsed.hostname} resolves to no address"
        if not addresses:
            message = (
                f"{problem} (from {target.url}); check that the {target.role}s run and that"
                " the name is a headless Service of theirs"
            )
            if first:
                raise CollectError(message)
            warnings.append(message)
        current.extend(
            (Target(_address_url(target.url, address), target.role), True) for address in addresses
        )
    return current, warnings


def scrape_times(*, start: float, window_seconds: float, step_seconds: float) -> list[float]:
    """When to scrape: the window's start, every step after it, and its end."""
    steps = max(1, math.ceil(window_seconds / step_seconds - 1e-9))
    return [min(start + index * step_seconds, start + window_seconds) for index in range(steps + 1)]


def _scrape(client: httpx.Client, target: Target) -> exposition.ScrapedValues:
    try:
        response = client.get(target.url)
    except httpx.HTTPError as error:
        raise CollectError(
            f"cannot scrape the {target.role} at {target.url}: {error or type(error).__name__}."
            f" Check that the {target.role} runs and that the URL is its metrics endpoint."
        ) from error
    if response.status_code != 200:
        raise CollectError(
            f"the {target.role} at {target.url} answered HTTP {response.status_code};"
            " pass the URL of its Prometheus metrics endpoint (usually /metrics)."
        )
    try:
        return exposition.parse_exposition(
            response.text,
            wanted=_WANTED,
            target_labels={
                metric_names.INSTANCE_LABEL: target.url,
                "job": target.role,
            },
        )
    except ValueError as error:
        raise CollectError(
            f"{target.url} did not answer in the Prometheus text format ({error});"
            f" pass the {target.role}'s metrics endpoint."
        ) from error


def collect(
    *,
    gateways: Sequence[str],
    engines: Sequence[str] = (),
    window_seconds: float,
    step_seconds: float,
    client: httpx.Client,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    resolve: Resolve = resolve_addresses,
) -> samples.WindowSamples:
    """Scrapes `gateways` (and `engines`) over a window of `window_seconds` starting now and
    returns its samples. `clock` is wall time in unix seconds; `sleep` waits and `resolve` looks
    up `dns+` names (all injectable so tests run on fake time and names)."""
    if not gateways:
        raise CollectError("no gateway to scrape: pass at least one --gateway URL")
    targets = [Target(metrics_url(url), "gateway") for url in gateways] + [
        Target(metrics_url(url), "engine") for url in engines
    ]
    scrapes: dict[Target, list[_Scrape]] = {}
    warnings: list[str] = []
    start = clock()
    schedule = scrape_times(start=start, window_seconds=window_seconds, step_seconds=step_seconds)
    rounds = len(schedule) - 1
    for round_index, planned in enumerate(schedule):
        sleep(max(0.0, planned - clock()))
        current, lookup_warnings = _round_targets(targets, resolve, first=round_index == 0)
        warnings.extend(f"scrape {round_index} of {rounds}: {w}" for w in lookup_warnings)
        for target, discovered in current:
            taken = scrapes.setdefault(target, [])
            try:
                values = _scrape(client, target)
            except CollectError as error:
                if round_index == 0 and not discovered:
                    raise
                warnings.append(f"scrape {round_index} of {rounds} failed: {error}")
                continue
            taken.append(_Scrape(planned, values))
    end = clock()
    for target, taken in scrapes.items():
        if len(taken) < 2:
            answered = "only one scrape" if taken else "no scrape"
            warnings.append(
                f"the {target.role} at {target.url} answered {answered};"
                " its counters show no increase"
            )
    if end <= start:
        raise CollectError(f"the clock did not advance during the {window_seconds} s window")
    return samples.WindowSamples(
        source=samples.Source(kind="gateways", urls=tuple(target.url for target in scrapes)),
        start=start,
        end=end,
        step_seconds=step_seconds,
        increases=tuple(_increases(scrapes.values())),
        gauges=tuple(_gauges(scrapes.values())),
        timeline=tuple(_timeline(scrapes.values())),
        warnings=tuple(warnings),
    )


def _keys(taken: list[_Scrape], names: frozenset[str]) -> list[tuple[str, samples.LabelSet]]:
    seen: dict[tuple[str, samples.LabelSet], None] = {}
    for scrape in taken:
        for key in scrape.values:
            if key[0] in names:
                seen.setdefault(key)
    return list(seen)


def _increases(per_target: Collection[list[_Scrape]]) -> list[samples.Series]:
    result = []
    for taken in per_target:
        for key in _keys(taken, _COUNTER_NAMES):
            value = counters.increase([scrape.values.get(key) for scrape in taken])
            result.append(samples.Series(name=key[0], labels=key[1], value=value))
    return result


def _gauges(per_target: Collection[list[_Scrape]]) -> list[samples.GaugeSeries]:
    result = []
    for taken in per_target:
        for key in _keys(taken, frozenset(metric_names.GAUGES)):
            present = [scrape.values[key] for scrape in taken if key in scrape.values]
            result.append(
                samples.GaugeSeries(
                    name=key[0],
                    labels=key[1],
                    last=present[-1],
                    mean=sum(present) / len(present),
                    maximum=max(present),
                )
            )
    return result


def _timeline(per_target: Collection[list[_Scrape]]) -> list[samples.CounterTrace]:
    result = []
    for taken in per_target:
        for key in _keys(taken, frozenset(metric_names.TIMELINE_COUNTERS)):
            points = tuple(
                (scrape.time, scrape.values[key]) for scrape in taken if key in scrape.values
            )
            result.append(samples.CounterTrace(name=key[0], labels=key[1], points=points))
    return result
