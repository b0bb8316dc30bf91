"""Errors the report shows its reader: each names the thing that failed and says what to do."""

from __future__ import annotations


class CollectError(RuntimeError):
    """Samples could not be collected (a server unreachable, an answer that makes no sense).
    The message is meant for the user as it is: it names the URL and says what to check."""
