"""Choosing a profile: the built-in synthetic one, a file by path, or a shipped name."""

from __future__ import annotations

import pathlib

import pytest
from engine_helpers import PROFILE

from sloserve.engine import profiles


def test_synthetic_names_the_built_in_profile() -> None:
    assert profiles.resolve("synthetic").name == "synthetic"


def test_a_path_to_a_json_file_is_read(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "mine.json"
    renamed = PROFILE.model_copy(update={"name": "mine"})
    path.write_text(renamed.model_dump_json(by_alias=True))
    assert profiles.resolve(str(path)).name == "mine"


def test_a_missing_file_is_named_in_the_error(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "absent.json"
    with pytest.raises(ValueError, match=r"absent\.json"):
        profiles.resolve(str(missing))


def test_an_invalid_file_names_the_file_and_the_field(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(PROFILE.model_dump_json(by_alias=True).replace('"ms":', '"msec":', 1))
    with pytest.raises(ValueError, match=r"broken\.json") as error:
        profiles.resolve(str(path))
    assert "prefill" in str(error.value)


def test_an_unknown_name_says_what_to_pass_instead() -> None:
    with pytest.raises(ValueError, match="--profile") as error:
        profiles.resolve("no-such-profile")
    assert "synthetic" in str(error.value)
