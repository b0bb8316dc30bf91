"""Engine base URLs and the data plane's `ip:port` names, and which engines a hint allows."""

from __future__ import annotations

from sloserve.epp import endpoints

ENGINES = ("http://10.0.0.1:8000", "http://10.0.0.1:8001", "http://10.0.0.2:8000")


def test_an_engine_url_names_its_endpoint_as_address_and_port() -> None:
    assert endpoints.endpoint_of("http://10.0.0.7:8000") == "10.0.0.7:8000"
    assert endpoints.endpoint_of("http://[fd00::7]:8000") == "[fd00::7]:8000"
    assert endpoints.endpoint_of("http://10.0.0.7") == "10.0.0.7:80"


def test_a_hint_allows_the_endpoints_it_lists() -> None:
    assert endpoints.allowed(ENGINES, ["10.0.0.1:8001", "10.0.0.9:8000"]) == {
        "http://10.0.0.1:8001"
    }


def test_a_bare_address_allows_every_port_of_it() -> None:
    assert endpoints.allowed(ENGINES, ["10.0.0.1"]) == {
        "http://10.0.0.1:8000",
        "http://10.0.0.1:8001",
    }


def test_ipv6_endpoints_match_with_and_without_a_port() -> None:
    engines = ("http://[fd00::7]:8000", "http://[fd00::8]:8000")
    assert endpoints.allowed(engines, ["[fd00::7]:8000"]) == {"http://[fd00::7]:8000"}
    assert endpoints.allowed(engines, ["fd00::8"]) == {"http://[fd00::8]:8000"}


def test_an_empty_hint_allows_nothing() -> None:
    assert endpoints.allowed(ENGINES, []) == frozenset()
