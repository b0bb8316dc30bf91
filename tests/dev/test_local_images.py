"""The registry of images the set-up builds: digests follow their inputs, entries are found."""

from __future__ import annotations

import pathlib

import pytest

from sloserve_dev.kind import builtin_images, images


def test_the_digest_changes_with_a_files_contents(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.py").write_text("one")
    before = images.digest([source, "v1"])
    assert images.digest([source, "v1"]) == before
    (source / "a.py").write_text("two")
    assert images.digest([source, "v1"]) != before


def test_the_digest_changes_with_a_setting(tmp_path: pathlib.Path) -> None:
    assert images.digest(["v1"]) != images.digest(["v2"])


def test_compiled_and_cached_files_do_not_count(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.py").write_text("one")
    before = images.digest([tmp_path])
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "b.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\0")
    assert images.digest([tmp_path]) == before


def test_the_node_and_sloserve_images_are_registered() -> None:
    assert images.get(builtin_images.NODE_IMAGE).load is False
    sloserve = images.get(builtin_images.SLOSERVE_IMAGE)
    assert sloserve.load is True
    repository, tag = builtin_images.chart_image()
    assert f"{repository}:{tag}" in sloserve.aliases


def test_an_image_added_by_a_few_lines_is_built_with_its_digest_tag() -> None:
    built: list[str] = []
    extra = images.register(
        images.LocalImage(
            name="test-extra-engine",
            inputs=lambda: ["engine 1.0"],
            build=lambda _context, tag: built.append(tag),
        )
    )
    try:
        assert extra in images.registered()
        assert extra.tag() == f"test-extra-engine:{images.digest(['engine 1.0'])}"
    finally:
        images.unregister("test-extra-engine")
    with pytest.raises(KeyError, match="test-extra-engine"):
        images.get("test-extra-engine")
