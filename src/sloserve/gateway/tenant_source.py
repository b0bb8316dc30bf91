"""Keeps the tenant book current with its file.

A Kubernetes Secret mounted as a volume changes by swapping a symlink, so the file is compared by
the identity and timestamps of what its path resolves to, not by watching the path itself. A file
that fails to load keeps the previous book in force and is reported (log and metric), never
silently ignored.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from sloserve.gateway import tenants

log = logging.getLogger(__name__)

_Signature = tuple[int, int, int, int]


class TenantSource:
    """The current `TenantBook`, reloaded from `path` when it changes (or fixed when no path)."""

    def __init__(
        self,
        *,
        path: Path | None,
        on_reload_failure: Callable[[], None] = lambda: None,
        known_classes: Callable[[], frozenset[str] | None] = lambda: None,
    ) -> None:
        """`known_classes` gives every class the gateway serves when it knows them all (None
        otherwise); the file is checked against them at every load."""
        self._path = path
        self._on_reload_failure = on_reload_failure
        self._known_classes = known_classes
        self._signature: _Signature | None = None
        self.book = tenants.TenantBook.open_access()
        if path is not None:
            self._signature = self._read_signature()
            self.book = tenants.load_tenants_file(path, known_classes=known_classes())

    def check(self) -> bool:
        """Reload if the file changed; True when a new book took effect."""
        if self._path is None:
            return False
        signature = self._read_signature()
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            self.book = tenants.load_tenants_file(self._path, known_classes=self._known_classes())
        except ValueError as error:
            log.error("keeping the previous tenants: %s", error)
            self._on_reload_failure()
            return False
        log.info("tenants reloaded from %s (%d keys)", self._path, len(self.book.by_key))
        return True

    async def watch(self, *, interval_s: float) -> None:
        """Check the file every `interval_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            self.check()

    def _read_signature(self) -> _Signature | None:
        assert self._path is not None
        try:
            stat = os.stat(self._path.resolve())
        except OSError:
            return None
        return (stat.st_ino, stat.st_dev, stat.st_mtime_ns, stat.st_size)
