"""Writing a volume's files so that a reader sees either all old or all new contents.

As a real kubelet does: the files live in a timestamped directory, a `..data` symlink points at
the current one and is swapped atomically, and each visible name is a symlink through `..data`.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import time
from collections.abc import Mapping

_DATA_LINK = "..data"


def write(target: pathlib.Path, files: Mapping[str, tuple[bytes, int]]) -> bool:
    """Makes `target` hold exactly `files` (relative path -> (content, mode)). Returns False,
    touching nothing, when it already did."""
    target.mkdir(parents=True, exist_ok=True)
    if _current(target) == dict(files):
        return False
    stamp = target / f"..{time.time_ns()}"
    stamp.mkdir()
    for relative, (content, mode) in files.items():
        path = stamp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    scratch = target / "..data_tmp"
    scratch.unlink(missing_ok=True)
    scratch.symlink_to(stamp.name)
    os.replace(scratch, target / _DATA_LINK)
    visible = {pathlib.PurePath(relative).parts[0] for relative in files}
    for name in visible:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"{_DATA_LINK}/{name}")
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            if entry.name not in (_DATA_LINK, stamp.name) and entry.is_dir():
                shutil.rmtree(entry)
        elif entry.name not in visible:
            entry.unlink()
    return True


def _current(target: pathlib.Path) -> dict[str, tuple[bytes, int]] | None:
    data = target / _DATA_LINK
    if not data.is_symlink():
        return None
    root = data.resolve()
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mode & 0o7777)
        for path in root.rglob("*")
        if path.is_file()
    }
