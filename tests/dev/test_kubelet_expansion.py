"""Kubernetes' $(VAR) expansion in commands, args and env values."""

from __future__ import annotations

import pytest

from sloserve.dev.kubelet import expansion

VARIABLES = {"POD_IP": "198.19.0.2", "PORT": "8000"}


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("--host=$(POD_IP)", "--host=198.19.0.2"),
        ("$(POD_IP):$(PORT)", "198.19.0.2:8000"),
        ("$(UNDEFINED)", "$(UNDEFINED)"),
        ("$$(POD_IP)", "$(POD_IP)"),
        ("cost: $5", "cost: $5"),
        ("$$", "$"),
        ("$(POD_IP", "$(POD_IP"),
        ("trailing $", "trailing $"),
        ("", ""),
    ],
)
def test_references_expand_as_in_kubernetes(text: str, expanded: str) -> None:
    assert expansion.expand(text, VARIABLES) == expanded
