"""The error a builder raises when a spec asks for something it cannot build."""

from __future__ import annotations

__all__ = ["SpecError"]


class SpecError(ValueError):
    """A ModelService spec that passed the API server's validation but cannot be turned into
    engines as written. `field` is the spec path at fault (e.g. `engine.args`); the message says
    what to change. Retrying does not help: the spec must change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"spec.{field}: {message}")
        self.field = field
